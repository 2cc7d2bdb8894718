"""The real daily bars shipped with the project (S&P 500 names, 2013-02-08..2018-02-07).

Files are ``<SYMBOL>_data.csv`` with columns ``date,open,high,low,close,volume,Name``, parsed by
:mod:`quant_assets.sources.layouts` (lenient on values, strict on structure).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from quant_assets.sources.layouts import ParsedFile, read_bar_file

BUNDLED_DIR_NAME = "sp500_2013_2018"

# The mirror we ship stamped every 2018 row (2018-01-02 .. 2018-02-07) with the year 2021; day and month
# are intact and fall on the 2018 trading calendar (2021-01-02 was a Saturday, 2018-01-02 a Tuesday).
# The files stay as received; the loader puts the year back. See data/sp500_2013_2018/SOURCES.md.
MISSTAMPED_YEAR, TRUE_YEAR = 2021, 2018


def repair_misstamped_year(dates: pd.Series) -> pd.Series:
    """Move the dates of the known year defect back to 2018; all other dates are untouched."""
    wrong = dates.dt.year == MISSTAMPED_YEAR
    return dates.where(~wrong, dates[wrong] - pd.DateOffset(years=MISSTAMPED_YEAR - TRUE_YEAR))


def is_bundled_file(path: Path | str) -> bool:
    """A file of the shipped data set (where the year defect lives), wherever the checkout is."""
    path = Path(path)
    return path.parent.name == BUNDLED_DIR_NAME and path.name.endswith("_data.csv")


def read_bars_file(path: Path | str) -> ParsedFile:
    """Any bars file :mod:`layouts` accepts; a shipped file also gets its known year defect repaired."""
    parsed = read_bar_file(path)
    if not is_bundled_file(path):
        return parsed
    return replace(parsed, bars=parsed.bars.assign(date=repair_misstamped_year(parsed.bars["date"])))


def available_symbols(data_dir: Path) -> list[str]:
    return sorted(p.name.removesuffix("_data.csv") for p in Path(data_dir).glob("*_data.csv"))


def read_bundled_file(path: Path) -> pd.DataFrame:
    """Parse one bundled CSV into raw long bars (with ``source`` and ``line``), the year defect repaired."""
    return read_bars_file(path).bars


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
