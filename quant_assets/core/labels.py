"""Forward-return labels, kept apart from features and joined only at training time.

Timing (the contract every number in the platform relies on):
- a decision is made with everything known at the close of trading day t (features at t use bars up
  to and including t);
- the earliest price anyone can trade at after that decision is the **open of day t+1**;
- the label for t is the simple return from that open over ``h`` trading days, open to open:
  ``open[t + 1 + h] / open[t + 1] - 1``.
Rows whose exit is not yet known have no label (they are dropped), so the newest ``h + 1`` days of
every symbol never appear in a training set. Days are counts of a symbol's own bars, so a symbol with
missing sessions (a halt, quarantined rows) reaches further in calendar time than ``h + 1`` market
dates: each label carries its ``exit_date``, and splits purge on it, not on a count of dates.
"""

from __future__ import annotations

import pandas as pd

ENTRY_LAG = 1  # trade at the open of the bar after the decision
EXIT_DATE = "exit_date"  # date of the bar whose open closes the trade: the label is known after it


def label_column(horizon: int) -> str:
    return f"forward_return_{horizon}d"


def label_span(horizon: int) -> int:
    """How many bars after t a label at t reaches: training rows closer than this to a test window leak."""
    return horizon + ENTRY_LAG


def forward_returns(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """One row per (symbol, date) whose forward return over ``horizon`` trading days is known."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 trading day, got {horizon}")
    ordered = bars.sort_values(["symbol", "date"])
    opens = ordered.groupby("symbol", sort=False)["open"]
    entry = opens.shift(-ENTRY_LAG)
    exit_ = opens.shift(-(ENTRY_LAG + horizon))
    exit_date = ordered.groupby("symbol", sort=False)["date"].shift(-(ENTRY_LAG + horizon))
    labels = ordered[["symbol", "date"]].assign(
        **{label_column(horizon): exit_ / entry - 1, EXIT_DATE: exit_date}
    )
    return labels.dropna().reset_index(drop=True)
