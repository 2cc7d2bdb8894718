"""Split incoming bars into valid rows and quarantined rows with their reasons.

Bad input must never take good rows down with it: each rule marks rows, every marked row is kept in
the quarantine with every reason that applies, and the rest flows on. Rules, in the order applied:

1. row rules, each row on its own: values that did not parse, missing values, non-finite or
   non-positive prices, negative volume, OHLC order, dates in the future, dates the exchange was
   closed (weekend, holiday);
2. one row per (symbol, date): of the rows that passed (1), the last one received wins, so a later
   file corrects an earlier one; the others are kept with why they lost (duplicate in the same file,
   unchanged re-delivery, or superseded by a correction, naming the winning file and line);
3. single-day outlier spikes (see :mod:`quant_assets.core.outliers`) among the winners.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.core.calendar import session_flags
from quant_assets.core.outliers import spike_reasons
from quant_assets.core.schemas import BAR_COLUMNS, PRICE_COLUMNS

OHLC_REASON = "OHLC inconsistent (need low <= min(open, close) <= max(open, close) <= high)"


def _row_rules(bars: pd.DataFrame, today: pd.Timestamp) -> dict[str, np.ndarray]:
    prices = bars[list(PRICE_COLUMNS)].to_numpy(dtype=float, na_value=np.nan)
    unparsed = (
        bars["unparsed"].fillna("").astype(str).to_numpy()
        if "unparsed" in bars.columns
        else np.full(len(bars), "", dtype=object)
    )
    has_unparsed = unparsed != ""
    missing = bars[list(BAR_COLUMNS)].isna().any(axis=1).to_numpy() & ~has_unparsed
    finite = np.isfinite(prices).all(axis=1)
    with np.errstate(invalid="ignore"):
        lower = np.fmin(prices[:, 0], prices[:, 3])  # open, close
        upper = np.fmax(prices[:, 0], prices[:, 3])
        ohlc_bad = (prices[:, 2] > lower) | (upper > prices[:, 1])
    complete = ~bars[list(BAR_COLUMNS)].isna().any(axis=1).to_numpy()
    sessions = session_flags(bars["date"])
    weekend = (bars["date"].dt.dayofweek >= 5).to_numpy()
    return {
        "unparseable value": has_unparsed,
        "missing value": missing,
        "non-finite price": complete & ~finite,
        "non-positive price": (prices <= 0).any(axis=1),
        "negative volume": (bars["volume"] < 0).to_numpy(),
        OHLC_REASON: complete & finite & ohlc_bad,
        "date in the future": (bars["date"] > today).to_numpy(),
        "weekend date (markets closed)": weekend,
        "exchange holiday (NYSE closed)": (sessions.eq(False).fillna(False).to_numpy() & ~weekend),
    }


def _row_reasons(flags: dict[str, np.ndarray], unparsed: pd.Series | None, n: int) -> np.ndarray:
    """One "; "-joined reason per row ('' when the row passed every rule)."""
    reasons = np.full(n, "", dtype=object)
    for name, hit in flags.items():
        for i in np.flatnonzero(hit):
            text = f"unparseable value ({unparsed.iloc[i]})" if name == "unparseable value" else name
            reasons[i] = f"{reasons[i]}; {text}" if reasons[i] else text
    return reasons


def _where(bars: pd.DataFrame, i: int) -> str:
    if "source" in bars.columns and "line" in bars.columns:
        return f"{bars['source'].iat[i]} line {bars['line'].iat[i]}"
    return f"row {i}"


def _duplicate_reasons(bars: pd.DataFrame, passed: np.ndarray) -> np.ndarray:
    """Reasons for rows that passed the row rules but lost to a later row of the same (symbol, date)."""
    reasons = np.full(len(bars), "", dtype=object)
    candidates = bars.loc[passed, ["symbol", "date"]]
    losers = candidates.duplicated(["symbol", "date"], keep="last")
    if not losers.any():
        return reasons
    winner_of = (
        candidates.reset_index().groupby(["symbol", "date"], sort=False)["index"].last().rename("winner")
    )
    lost = candidates[losers].join(winner_of, on=["symbol", "date"])
    same_file = "source" not in bars.columns
    value_columns = [*PRICE_COLUMNS, "volume"]
    for loser, winner in zip(lost.index, lost["winner"], strict=True):
        if same_file or bars["source"].iat[loser] == bars["source"].iat[winner]:
            reasons[loser] = "duplicate (symbol, date)"
        elif np.array_equal(
            bars[value_columns].iloc[loser].to_numpy(float), bars[value_columns].iloc[winner].to_numpy(float)
        ):
            reasons[loser] = f"unchanged re-delivery (kept: {_where(bars, winner)})"
        else:
            changed = [
                f"{c} {bars[c].iat[loser]:g} -> {bars[c].iat[winner]:g}"
                for c in value_columns
                if bars[c].iat[loser] != bars[c].iat[winner]
            ]
            reasons[loser] = f"superseded by correction ({_where(bars, winner)}: {', '.join(changed)})"
    return reasons


def split_valid_bars(
    bars: pd.DataFrame, today: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(valid, quarantined)``.

    ``valid`` has the bar columns with float prices/volume, sorted by symbol and date, one row per
    (symbol, date). ``quarantined`` has the original columns plus ``reason`` (all failed rules, joined
    by "; "), in input order. Input order is arrival order: for a repeated (symbol, date) the last
    valid row wins. ``today`` (default: the current date) bounds dates: a bar after it cannot be real.
    Optional input columns ``source``/``line`` (where a row came from) and ``unparsed`` (cells that
    were not numbers) make the reasons precise.
    """
    missing_cols = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing_cols:
        raise ValueError(f"bars are missing required column(s): {', '.join(missing_cols)}")
    bars = bars.reset_index(drop=True)
    today = pd.Timestamp.now().normalize() if today is None else pd.Timestamp(today)
    flags = _row_rules(bars, today)
    reasons = _row_reasons(flags, bars.get("unparsed"), len(bars))
    passed = reasons == ""
    duplicates = _duplicate_reasons(bars, passed)
    reasons = np.where(duplicates != "", duplicates, reasons)

    winners = bars.loc[reasons == ""]
    spikes = spike_reasons(winners[["symbol", "date", "close"]]).dropna()
    reasons[spikes.index.to_numpy()] = spikes.to_numpy()

    bad = reasons != ""
    quarantined = bars.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    valid = (
        bars.loc[~bad, list(BAR_COLUMNS)]
        .astype({"date": "datetime64[ns]", **{c: float for c in (*PRICE_COLUMNS, "volume")}})
        .sort_values(["symbol", "date"])
        .reset_index(drop=True)
    )
    return valid, quarantined
