"""Landing-zone reads with and without the parse cache: many small files, as POST /api/data leaves them.

Writes ``--days`` x ``--symbols`` one-bar CSV files (one per symbol per trading day) to a temporary
folder zone, then times ``gather_bars`` for one symbol: parsing every file (no cache), the first run
with the cache (parses and stores), and a warm run (one new file since). Prints seconds and ratios.

    .venv/bin/python benchmarks/landing.py [--days 250] [--symbols 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from quant_assets.sources.gather import gather_bars
from quant_assets.sources.landing_cache import LandingParseCache
from quant_assets.sources.landing_zone import FolderLandingZone

HEADER = "date,open,high,low,close,volume,Name\n"


def write_zone(root: Path, days: int, symbols: list[str]) -> int:
    (root / "api").mkdir(parents=True)
    sessions = [
        d for d in (dt.date(2018, 2, 8) + dt.timedelta(i) for i in range(days * 2)) if d.weekday() < 5
    ]
    for day in sessions[:days]:
        for symbol in symbols:
            (root / "api" / f"{day}-{symbol}.csv").write_text(f"{HEADER}{day},10,11,9,10.5,1000,{symbol}\n")
    return days * len(symbols)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--symbols", type=int, default=4)
    args = parser.parse_args()
    symbols = [f"S{i:03d}" for i in range(args.symbols)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "zone"
        files = write_zone(root, args.days, symbols)
        zone, cache = FolderLandingZone(root), LandingParseCache(Path(tmp) / "cache")

        def run(with_cache: LandingParseCache | None):
            return gather_bars(
                {symbols[0]: "landing"}, Path("."), zone, only_symbols={symbols[0]}, cache=with_cache
            )

        plain, expected = timed(lambda: run(None))
        cold, _ = timed(lambda: run(cache))
        (root / "api" / "new.csv").write_text(f"{HEADER}2019-06-03,10,11,9,10.5,1000,{symbols[0]}\n")
        warm, result = timed(lambda: run(cache))
        assert len(result.bars) == len(expected.bars) + 1
    print(f"{files:,} landed files ({args.days} days x {args.symbols} symbols), gather for one symbol:")
    print(f"  no cache (parse every file)   {plain:7.2f} s   {plain / files * 1000:.2f} ms/file")
    print(f"  cache, first run (fill)       {cold:7.2f} s   x{cold / plain:.2f} of no cache")
    print(f"  cache, warm (1 new file)      {warm:7.2f} s   x{warm / plain:.3f} of no cache "
          f"({plain / warm:.0f}x faster)")  # fmt: skip


if __name__ == "__main__":
    main()
