"""The real daily bars shipped with the project (S&P 500 names, 2013-02-08..2018-02-07).

Files are ``<SYMBOL>_data.csv`` with columns ``date,open,high,low,close,volume,Name``, parsed by
:mod:`quant_assets.sources.layouts` (lenient on values, strict on structure).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from quant_assets.sources.layouts import read_bar_file


def available_symbols(data_dir: Path) -> list[str]:
    return sorted(p.name.removesuffix("_data.csv") for p in Path(data_dir).glob("*_data.csv"))


def read_bundled_file(path: Path) -> pd.DataFrame:
    """Parse one bundled CSV into raw long bars (with ``source`` and ``line``)."""
    return read_bar_file(path).bars


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
