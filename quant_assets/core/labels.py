"""Forward-return labels, kept apart from features and joined only at training time.

Timing: a decision is made with everything known at the close of trading day t; the label for t is
the simple return from the close of t to the close ``horizon`` trading days later,
``close[t + h] / close[t] - 1``. Rows whose future is not yet known have no label (they are dropped),
so the newest ``h`` days of every symbol never appear in a training set.
"""

from __future__ import annotations

import pandas as pd


def label_column(horizon: int) -> str:
    return f"forward_return_{horizon}d"


def forward_returns(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """One row per (symbol, date) whose forward return over ``horizon`` trading days is known."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 trading day, got {horizon}")
    ordered = bars.sort_values(["symbol", "date"])
    future_close = ordered.groupby("symbol", sort=False)["close"].shift(-horizon)
    labels = ordered[["symbol", "date"]].assign(
        **{label_column(horizon): future_close / ordered["close"] - 1}
    )
    return labels.dropna().reset_index(drop=True)
