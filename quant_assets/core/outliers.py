"""Single-day outliers ("fat-finger" prints): a close that jumps far and comes straight back.

A real move persists; a bad print reverts. A bar at ``t`` is a spike when the move into it and the
move out of it are both extreme against the symbol's *trailing* volatility (returns before ``t`` only)
and the move out undoes most of the move in. Confirmation needs bar ``t + 1``, so the newest bar of a
symbol is never judged a spike; when the next bar arrives the spike is quarantined then, a revision of
history recorded with its reason (the row is removed, never replaced by an invented price).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRAILING_WINDOW = 63  # about three months of sessions
MIN_HISTORY = 20  # returns needed before the trailing volatility is trusted
SPIKE_SIGMAS = 8.0  # both legs beyond this many trailing standard deviations ...
MIN_SPIKE_LOG_MOVE = float(np.log(1.25))  # ... and beyond 25 %, whatever the volatility
REVERSION_SHARE = 0.5  # the move out must undo at least half of the move in


def spike_reasons(bars: pd.DataFrame) -> pd.Series:
    """Per row, a reason if the close is a single-day spike, else None (rows in input order).

    ``bars`` holds one row per (symbol, date) with finite positive closes.
    """
    order = bars.sort_values(["symbol", "date"], kind="stable").index
    ordered = bars.loc[order, ["symbol", "close"]]
    log_close = np.log(ordered["close"].to_numpy(dtype=float))
    symbol = ordered["symbol"].to_numpy()
    same_as_previous = np.r_[False, symbol[1:] == symbol[:-1]]
    same_as_next = np.r_[symbol[:-1] == symbol[1:], False]
    move_in = np.where(same_as_previous, log_close - np.r_[np.nan, log_close[:-1]], np.nan)
    move_out = np.where(same_as_next, np.r_[log_close[1:], np.nan] - log_close, np.nan)

    trailing_sd = (
        pd.Series(move_in, index=order)
        .groupby(symbol)
        .transform(lambda r: r.rolling(TRAILING_WINDOW, min_periods=MIN_HISTORY).std().shift(1))
        .to_numpy()
    )
    threshold = np.fmax(SPIKE_SIGMAS * trailing_sd, MIN_SPIKE_LOG_MOVE)
    with np.errstate(invalid="ignore"):
        spike = (
            (np.abs(move_in) > threshold)
            & (np.abs(move_out) > threshold)
            & (np.sign(move_in) != np.sign(move_out))
            & (np.abs(move_in + move_out) < (1 - REVERSION_SHARE) * np.abs(move_in))
        )
    reasons = pd.Series(None, index=order, dtype=object)
    for position in np.flatnonzero(spike):
        reasons.iloc[position] = (
            f"outlier spike (close {np.expm1(move_in[position]):+.0%} then "
            f"{np.expm1(move_out[position]):+.0%} the next session)"
        )
    return reasons.reindex(bars.index)


def unconfirmed_moves(bars: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's newest bar whose move is extreme by the spike rule's first leg: not yet confirmed.

    The spike rule needs the next bar to judge a print, so an extreme newest close (beyond
    ``SPIKE_SIGMAS`` trailing standard deviations of daily log returns and beyond ``MIN_SPIKE_LOG_MOVE``,
    the same thresholds) flows into features and weights until then. The trading cycle trades no such
    symbol (and its forecast says so) until the next bar either confirms the move (it persists: the bar
    is no longer the newest and is not a spike) or the spike rule quarantines it.

    Returns one row per unconfirmed symbol: symbol, date, close, previous_close, move (simple return),
    threshold (as a simple return), reason."""
    columns = ["symbol", "date", "close", "previous_close", "move", "threshold", "reason"]
    rows = []
    for symbol, group in bars.sort_values(["symbol", "date"], kind="stable").groupby("symbol", sort=True):
        close = group["close"].to_numpy(dtype=float)
        if len(close) < MIN_HISTORY + 2:
            continue
        log_returns = np.diff(np.log(close))
        trailing = log_returns[:-1][-TRAILING_WINDOW:]
        sd = float(np.std(trailing, ddof=1))
        threshold = max(SPIKE_SIGMAS * sd, MIN_SPIKE_LOG_MOVE)
        move = float(log_returns[-1])
        if abs(move) > threshold:
            rows.append({
                "symbol": symbol, "date": group["date"].iloc[-1], "close": close[-1],
                "previous_close": close[-2], "move": float(np.expm1(move)),
                "threshold": float(np.expm1(threshold)),
                "reason": f"newest close {close[-1]:.2f} is {np.expm1(move):+.0%} from {close[-2]:.2f}, "
                          f"beyond {SPIKE_SIGMAS:g} trailing standard deviations and "
                          f"{np.expm1(MIN_SPIKE_LOG_MOVE):.0%}: unconfirmed until the next bar",
            })  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
