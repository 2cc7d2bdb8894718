"""Splits and dividends: raw prices kept, adjusted prices and the factor beside them.

Backward adjustment (the CRSP / Yahoo convention): the newest prices are as traded and every bar
*before* an ex-date is scaled, so a return computed across the ex-date is the holder's return.
- split of ``ratio`` new shares per old share (7.0 for AAPL's 7-for-1): earlier prices x 1/ratio,
  earlier volumes x ratio;
- cash dividend ``D``: earlier prices x (1 - D / C), with C the raw close of the last bar before the
  ex-date (volume untouched).
The factor of a bar is the product over the actions after it, so a new action re-adjusts all history
before it and nothing after. No look-ahead reaches the features: within any window ending at ``t`` the
factors from later actions are one constant, and every feature is scale-free (returns and ratios).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.core.schemas import PRICE_COLUMNS

RAW_PREFIX = "raw_"
# Ratios a split or reverse split is usually done at (new shares per old share).
COMMON_SPLIT_RATIOS = (
    2.0,
    3.0,
    4.0,
    5.0,
    7.0,
    8.0,
    10.0,
    20.0,
    1.5,
    1 / 2,
    1 / 3,
    1 / 4,
    1 / 5,
    1 / 8,
    1 / 10,
)
RATIO_TOLERANCE = 0.06  # the overnight price ratio is within 6 % of 1/ratio
PERSISTENCE_BARS = 5  # the new price level holds for this many bars (a spike would revert)
VOLUME_WINDOW = 20
VOLUME_RESPONSE = 0.75


def _factors_for_symbol(dates: np.ndarray, raw_close: np.ndarray, actions: pd.DataFrame):
    """(price_factor, volume_factor) per bar of one symbol, bars in date order."""
    price = np.ones(len(dates))
    volume = np.ones(len(dates))
    for action in actions.itertuples(index=False):
        before = dates < np.datetime64(action.date)
        if not before.any():
            continue
        if action.action == "split":
            price[before] /= action.value
            volume[before] *= action.value
        else:
            previous_close = raw_close[np.flatnonzero(before)[-1]]
            price[before] *= 1.0 - action.value / previous_close
    return price, volume


def adjust_for_actions(bars: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """Bars with adjusted ``open..close, volume``, the originals as ``raw_*`` and the factors.

    ``actions``: ``symbol, date, action ('split' | 'dividend'), value``. Input is not modified; output
    is sorted by symbol and date. A dividend at or above the previous close is an error (it would make
    prices non-positive) naming the symbol and date.
    """
    ordered = bars.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    price_factor = np.ones(len(ordered))
    volume_factor = np.ones(len(ordered))
    relevant = actions[actions["symbol"].isin(ordered["symbol"].unique())]
    if len(relevant):
        positions = ordered.groupby("symbol", sort=False).indices
        for symbol, symbol_actions in relevant.sort_values("date").groupby("symbol"):
            where = positions[symbol]
            dates = ordered["date"].to_numpy()[where]
            raw_close = ordered["close"].to_numpy(dtype=float)[where]
            price, volume = _factors_for_symbol(dates, raw_close, symbol_actions)
            if (price <= 0).any():
                bad = symbol_actions[symbol_actions["action"] == "dividend"].iloc[0]
                raise ValueError(
                    f"{symbol} {pd.Timestamp(bad.date).date()}: dividend {bad.value} is not below the "
                    "previous close; check the actions file"
                )
            price_factor[where] = price
            volume_factor[where] = volume
    adjusted = ordered.copy()
    for column in (*PRICE_COLUMNS, "volume"):
        adjusted[RAW_PREFIX + column] = ordered[column].astype(float)
    adjusted[list(PRICE_COLUMNS)] = ordered[list(PRICE_COLUMNS)].to_numpy(dtype=float) * price_factor[:, None]
    adjusted["volume"] = ordered["volume"].to_numpy(dtype=float) * volume_factor
    adjusted["price_factor"] = price_factor
    adjusted["volume_factor"] = volume_factor
    return adjusted


def suspected_splits(bars: pd.DataFrame) -> pd.DataFrame:
    """Overnight moves that look like a split nobody recorded: ``symbol, date, ratio, price_ratio,
    volume_ratio``.

    A candidate at ``t``: close[t] / close[t-1] within ``RATIO_TOLERANCE`` of 1/ratio for a common ratio,
    the median close of the next ``PERSISTENCE_BARS`` bars still near 1/ratio of the previous ones
    (it persists, unlike a bad print), and median volume over ``VOLUME_WINDOW`` bars moving the other
    way by at least ``ratio ** VOLUME_RESPONSE``. Run it on adjusted bars: recorded splits are then
    already gone.
    """
    rows = []
    for symbol, one in bars.sort_values(["symbol", "date"]).groupby("symbol", sort=True):
        close = one["close"].to_numpy(dtype=float)
        volume = one["volume"].to_numpy(dtype=float)
        dates = one["date"].to_numpy()
        overnight = close[1:] / close[:-1]
        for ratio in COMMON_SPLIT_RATIOS:
            for i in np.flatnonzero(np.abs(overnight * ratio - 1) < RATIO_TOLERANCE) + 1:
                before = slice(max(0, i - PERSISTENCE_BARS), i)
                after = slice(i, min(len(close), i + PERSISTENCE_BARS))
                level = np.median(close[after]) / np.median(close[before])
                if abs(level * ratio - 1) >= 2 * RATIO_TOLERANCE or i + PERSISTENCE_BARS > len(close):
                    continue
                volume_before = np.median(volume[max(0, i - VOLUME_WINDOW) : i])
                volume_after = np.median(volume[i : i + VOLUME_WINDOW])
                volume_ratio = volume_after / volume_before if volume_before > 0 else np.nan
                # volume moves the other way, by at least ratio**0.75 (7-for-1: x4.3, 2-for-1: x1.7)
                expected = ratio**VOLUME_RESPONSE
                if not (volume_ratio >= expected if ratio > 1 else volume_ratio <= expected):
                    continue
                rows.append((symbol, pd.Timestamp(dates[i]), ratio, overnight[i - 1], volume_ratio))
    return pd.DataFrame(rows, columns=["symbol", "date", "ratio", "price_ratio", "volume_ratio"])


def describe_suspected_split(row) -> str:
    ratio = f"{row.ratio:g}-for-1" if row.ratio >= 1 else f"1-for-{1 / row.ratio:g} reverse"
    return (
        f"{row.symbol} {pd.Timestamp(row.date).date()}: possible unrecorded {ratio} split (close "
        f"x{row.price_ratio:.3f} overnight and held, volume x{row.volume_ratio:.1f}); "
        "add it to the actions file"
    )


def undo_split_adjustment(bars: pd.DataFrame, actions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vendor split-adjusted bars and actions (Yahoo's) -> prices, volumes and dividends as traded.

    Before each split of ``ratio``, the vendor divided prices and dividends by it and multiplied volumes;
    this multiplies them back, so applying :func:`adjust_for_actions` later reproduces the vendor's
    split-adjusted series. Returns new frames.
    """
    splits = actions[actions["action"] == "split"]
    if splits.empty:
        return bars, actions
    bars, actions = bars.copy(), actions.copy()
    for split in splits.itertuples(index=False):
        before = (bars["symbol"] == split.symbol) & (bars["date"] < split.date)
        bars.loc[before, list(PRICE_COLUMNS)] *= split.value
        bars.loc[before, "volume"] /= split.value
        earlier_dividends = (
            (actions["symbol"] == split.symbol)
            & (actions["action"] == "dividend")
            & (actions["date"] < split.date)
        )
        actions.loc[earlier_dividends, "value"] *= split.value
    return bars, actions


def attach_actions(bars: pd.DataFrame, actions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Put each action on the bars of its (symbol, ex-date) as ``split`` / ``dividend`` columns (NaN: none).

    This is yfinance's own convention (actions ride on the bar of the ex-date), so raw bars stay one
    table. An ex-date without a bar moves to the symbol's next bar (the adjustment is the same: it
    scales every bar before it); an action after the newest bar waits, with a warning, until its ex-date
    has a bar. For repeated (symbol, date, action) the last one given wins.
    """
    out = bars.copy()
    out["split"] = np.nan
    out["dividend"] = np.nan
    warnings: list[str] = []
    if actions.empty or bars.empty:
        return out, warnings
    actions = actions.drop_duplicates(["symbol", "date", "action"], keep="last")
    dated = out[out["date"].notna()]
    for action in actions.itertuples(index=False):
        dates = dated.loc[dated["symbol"] == action.symbol, "date"]
        later = dates[dates >= action.date]
        if later.empty:
            warnings.append(
                f"{action.symbol} {pd.Timestamp(action.date).date()}: {action.action} {action.value:g} "
                "has no bar on or after its ex-date yet; it applies once one arrives"
            )
            continue
        target = later.min()
        column = "split" if action.action == "split" else "dividend"
        hit = (out["symbol"] == action.symbol) & (out["date"] == target)
        if target != action.date:
            warnings.append(
                f"{action.symbol} {pd.Timestamp(action.date).date()}: no bar on the ex-date of "
                f"{action.action} {action.value:g}; applied from the next bar {target.date()}"
            )
        previous = out.loc[hit, column].fillna(1.0 if column == "split" else 0.0)
        out.loc[hit, column] = previous * action.value if column == "split" else previous + action.value
    return out, warnings


def actions_from_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """The actions riding on bars (``split`` / ``dividend`` columns), one per (symbol, date, action).

    Deliveries of the same bar may repeat an action: the last row's value wins, as for prices.
    """
    frames = []
    for column, action in (("split", "split"), ("dividend", "dividend")):
        if column in bars.columns:
            hit = bars[bars[column].notna() & (bars[column] > 0)]
            frames.append(hit[["symbol", "date"]].assign(action=action, value=hit[column].astype(float)))
    if not frames:
        return pd.DataFrame(columns=["symbol", "date", "action", "value"])
    actions = pd.concat(frames, ignore_index=True)
    return actions.drop_duplicates(["symbol", "date", "action"], keep="last").reset_index(drop=True)


DUPLICATE_DIVIDEND_DAYS = 10


def suspected_duplicate_dividends(actions: pd.DataFrame) -> pd.DataFrame:
    """Dividends repeated by the vendor: the same amount again within ``DUPLICATE_DIVIDEND_DAYS`` days.

    Returns the earlier row of each pair (yfinance's repair drops that one), with ``repeated_on``.
    Regular dividends of one company are months apart, so an equal amount days later is a feed error.
    """
    dividends = actions[actions["action"] == "dividend"].sort_values(["symbol", "date"])
    following = dividends.groupby("symbol")[["date", "value"]].shift(-1)
    close_in_time = (following["date"] - dividends["date"]).dt.days <= DUPLICATE_DIVIDEND_DAYS
    repeated = close_in_time & (following["value"] == dividends["value"])
    return dividends[repeated].assign(repeated_on=following.loc[repeated, "date"]).reset_index(drop=True)
