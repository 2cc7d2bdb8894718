"""Ingestion throughput: parse + validate + adjust + features on synthetic raw bars, vs a bare TA-Lib loop.

    python benchmarks/ingestion.py [--symbols 500 --days 2520 --seed 0 --split-share 0.1 --repeat 1]

Synthetic GBM bars (quant_assets.sources.synthetic), as a raw feed would deliver them: one CSV per symbol
in our layout, unadjusted, a share of the symbols with a split. Each stage is timed on its own and the
whole chain end to end. The baseline is benchmarks/features.py's TA-Lib loop over ready-made numpy arrays
of the same (adjusted) bars: it is the arithmetic alone, with no parsing, checking or bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib
from features import best_of, panel_parser, talib_loop  # benchmarks/features.py, next to this script

from quant_assets.core.corporate_actions import adjust_for_actions
from quant_assets.core.features import build_features
from quant_assets.core.validation import split_valid_bars
from quant_assets.sources.layouts import parse_bar_file
from quant_assets.sources.synthetic import synthetic_bars


def as_csv_files(bars: pd.DataFrame) -> dict[str, bytes]:
    """One CSV per symbol in our layout (``date,open,high,low,close,volume,Name``), as bytes in memory."""
    files = {}
    for symbol, one in bars.groupby("symbol", sort=True):
        frame = one.rename(columns={"symbol": "Name"})[
            ["date", "open", "high", "low", "close", "volume", "Name"]
        ]
        files[f"{symbol}_data.csv"] = frame.to_csv(index=False, date_format="%Y-%m-%d").encode()
    return files


def main() -> None:
    parser = panel_parser(__doc__)
    parser.add_argument("--split-share", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    raw, splits = synthetic_bars(
        args.symbols, args.days, args.seed, start="2008-01-02", split_share=args.split_share
    )
    actions = splits.assign(action="split").rename(columns={"ratio": "value"})
    files = as_csv_files(raw)
    today = pd.Timestamp("2030-01-01")
    rows = len(raw)
    print(
        f"synthetic raw feed: {args.symbols} symbols x {args.days} days = {rows:,} rows in {len(files)} CSV "
        f"files ({sum(map(len, files.values())) / 1e6:.0f} MB), {len(splits)} splits; best of {args.repeat}; "
        f"talib {talib.__version__}, pandas {pd.__version__}"
    )

    def parse() -> pd.DataFrame:
        return pd.concat([parse_bar_file(data, name).bars for name, data in files.items()], ignore_index=True)

    timings: dict[str, float] = {}
    timings["parse (CSV bytes -> raw bars)"], parsed = best_of(args.repeat, parse)
    timings["validate (split_valid_bars)"], (valid, quarantined) = best_of(
        args.repeat, lambda: split_valid_bars(parsed, today=today)
    )
    timings["adjust (splits)"], adjusted = best_of(args.repeat, lambda: adjust_for_actions(valid, actions))
    timings["features (build_features)"], features = best_of(args.repeat, lambda: build_features(adjusted))

    def end_to_end() -> pd.DataFrame:
        ok, _ = split_valid_bars(parse(), today=today)
        return build_features(adjust_for_actions(ok, actions))

    timings["end to end"], _ = best_of(args.repeat, end_to_end)

    # Baseline: the same indicator arithmetic on arrays of the same adjusted bars, symbol by symbol.
    shape = (args.symbols, args.days)
    panel = {
        c: adjusted[c].to_numpy(dtype=float).reshape(shape)
        for c in ("open", "high", "low", "close", "volume")
    }
    timings["baseline: talib loop on arrays"], _ = best_of(args.repeat, lambda: talib_loop(panel))

    assert len(valid) == rows and quarantined.empty, quarantined["reason"].value_counts().head()
    assert len(features) == rows and np.isfinite(adjusted[["open", "close"]].to_numpy()).all()
    base = timings["baseline: talib loop on arrays"]
    print(f"{'':34s}{'rows':>12s}{'seconds':>10s}{'rows/s':>14s}{'x baseline':>12s}")
    for label, seconds in timings.items():
        print(f"{label:34s}{rows:>12,d}{seconds:>10.3f}{rows / seconds:>14,.0f}{seconds / base:>12.2f}")


if __name__ == "__main__":
    main()
