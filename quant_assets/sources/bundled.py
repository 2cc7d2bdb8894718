"""The real daily bars shipped with the project (S&P 500 names, 2013-02-08..2018-02-07).

Files are ``<SYMBOL>_data.csv`` with columns ``date,open,high,low,close,volume,Name``. Parsing is
lenient on values (an unparseable number becomes NaN and is quarantined downstream, never dropped
here) and strict on structure (a missing file or column is an error naming it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from quant_assets.core.schemas import BAR_COLUMNS

_NUMERIC = ("open", "high", "low", "close", "volume")

# The mirror we ship stamped every 2018 row (2018-01-02 .. 2018-02-07) with the year 2021; day and month
# are intact and fall on the 2018 trading calendar (2021-01-02 was a Saturday, 2018-01-02 a Tuesday).
# The files stay as received; the loader puts the year back. See data/sp500_2013_2018/SOURCES.md.
MISSTAMPED_YEAR, TRUE_YEAR = 2021, 2018


def repair_misstamped_year(dates: pd.Series) -> pd.Series:
    """Move the dates of the known year defect back to 2018; all other dates are untouched."""
    wrong = dates.dt.year == MISSTAMPED_YEAR
    return dates.where(~wrong, dates[wrong] - pd.DateOffset(years=MISSTAMPED_YEAR - TRUE_YEAR))


def available_symbols(data_dir: Path) -> list[str]:
    return sorted(p.name.removesuffix("_data.csv") for p in Path(data_dir).glob("*_data.csv"))


def read_bundled_file(path: Path) -> pd.DataFrame:
    """Parse one bundled CSV into raw long bars; the symbol comes from the ``Name`` column or file name."""
    frame = pd.read_csv(path, dtype=str)
    frame.columns = [c.strip().lower() for c in frame.columns]
    if "name" in frame.columns:
        frame = frame.rename(columns={"name": "symbol"})
    else:
        frame["symbol"] = Path(path).name.removesuffix("_data.csv")
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    frame["date"] = repair_misstamped_year(pd.to_datetime(frame["date"], errors="coerce", format="%Y-%m-%d"))
    for column in _NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["symbol"] = frame["symbol"].fillna(Path(path).name.removesuffix("_data.csv")).str.strip()
    return frame[list(BAR_COLUMNS)]


def load_bundled_bars(data_dir: Path, symbols: Iterable[str]) -> pd.DataFrame:
    """Raw bars for ``symbols``; an unknown symbol is an error that lists what is available."""
    data_dir = Path(data_dir)
    symbols = list(symbols)
    unknown = [s for s in symbols if not (data_dir / f"{s}_data.csv").exists()]
    if unknown:
        raise FileNotFoundError(
            f"no bundled data for {', '.join(unknown)} in {data_dir}; "
            f"available: {', '.join(available_symbols(data_dir)[:20])}..."
        )
    frames = [read_bundled_file(data_dir / f"{s}_data.csv") for s in symbols]
    return pd.concat(frames, ignore_index=True)
