"""Benchmark bars (SPY) for the backtest: any bar file the layouts accept, one symbol."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quant_assets.core.validation import split_valid_bars
from quant_assets.sources.layouts import BarFileError, read_bar_file


def read_benchmark_bars(path: Path | str, symbol: str = "SPY") -> pd.DataFrame:
    """Valid bars ``symbol, date, open, high, low, close, volume`` of ``symbol`` from ``path``.

    The symbol is renamed to ``symbol`` whatever the file calls it, so a file named after another
    index fund still serves as the market benchmark."""
    parsed = read_bar_file(path)
    names = parsed.bars["symbol"].unique()
    if len(names) != 1:
        raise BarFileError(
            f"{path}: a benchmark file holds one symbol, found {len(names)}: {list(names)[:5]}"
        )
    valid, _ = split_valid_bars(parsed.bars)
    columns = ["symbol", "date", "open", "high", "low", "close", "volume"]
    return valid.assign(symbol=symbol)[columns].sort_values("date").reset_index(drop=True)
