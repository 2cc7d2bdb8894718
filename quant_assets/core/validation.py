"""Split incoming bars into valid rows and quarantined rows with their reasons.

Bad input must never take good rows down with it: each rule marks rows, every marked row is kept in
the quarantine with every reason that applies, and the rest flows on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.core.schemas import BAR_COLUMNS, PRICE_COLUMNS


def _rule_reasons(bars: pd.DataFrame, today: pd.Timestamp) -> dict[str, pd.Series]:
    prices = bars[list(PRICE_COLUMNS)]
    missing = bars[list(BAR_COLUMNS)].isna().any(axis=1)
    finite = np.isfinite(prices.to_numpy(dtype=float, na_value=np.nan)).all(axis=1)
    lower = bars[["open", "close"]].min(axis=1)
    upper = bars[["open", "close"]].max(axis=1)
    return {
        "missing value": missing,
        "non-finite price": ~missing & ~finite,
        "non-positive price": (prices <= 0).any(axis=1),
        "negative volume": bars["volume"] < 0,
        "OHLC inconsistent (need low <= min(open, close) <= max(open, close) <= high)": (
            ~missing & ((bars["low"] > lower) | (upper > bars["high"]))
        ),
        "date in the future": bars["date"] > today,
        "weekend date (markets closed)": bars["date"].dt.dayofweek >= 5,
        "duplicate (symbol, date)": bars.duplicated(["symbol", "date"], keep="last"),
    }


def split_valid_bars(
    bars: pd.DataFrame, today: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(valid, quarantined)``.

    ``valid`` has the bar columns with float prices/volume, sorted by symbol and date.
    ``quarantined`` has the original columns plus ``reason`` (all failed rules, joined by "; ").
    For duplicated (symbol, date) the last row wins, as a later correction should. ``today`` (default:
    the current date) bounds dates: a bar dated after it cannot be real.
    """
    missing_cols = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing_cols:
        raise ValueError(f"bars are missing required column(s): {', '.join(missing_cols)}")
    bars = bars.reset_index(drop=True)
    reasons = _rule_reasons(bars, pd.Timestamp.now().normalize() if today is None else pd.Timestamp(today))
    flags = pd.DataFrame(reasons)
    bad = flags.any(axis=1)
    reason_text = flags.apply(lambda row: "; ".join(name for name, hit in row.items() if hit), axis=1)

    quarantined = bars.loc[bad].assign(reason=reason_text[bad]).reset_index(drop=True)
    valid = (
        bars.loc[~bad, list(BAR_COLUMNS)]
        .astype({c: float for c in (*PRICE_COLUMNS, "volume")})
        .sort_values(["symbol", "date"])
        .reset_index(drop=True)
    )
    return valid, quarantined
