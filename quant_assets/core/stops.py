"""The drawdown stop, the per-position stop-loss and the never-trade list (issue 10), as pure rules.

One implementation, two callers. The live trading cycle calls :func:`apply_limits` once a day, after
the close, with the account's daily equity, its holdings (entry date and price) and wide closes; the
backtest (``core.replay.replay_stops``) steps the very same rules (:func:`advance_drawdown`,
:func:`stop_loss_breaches` / :func:`stop_loss_event`, :func:`is_cooling_down`, :func:`restrict_targets`)
day by day on the simulated account. Targets decided at a close trade at the next open, so a rule that
fires at t's close acts at t+1's open.

A **market day** is a row of the prices (or of the equity series: one value per market day, at its
close), never a calendar day. The numbers come from ``core.limits`` (``risk_limits.yaml``).

What a stopped or barred name's weight becomes: zero, and the weight goes to cash; it is never spread
over the other names (that would raise their risk on the day risk is being cut).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.core.limits import DrawdownStop, RiskLimits, StopLoss

DRAWDOWN_STOP = "drawdown_stop"  # the stop triggered today: targets scaled from today's decision
DRAWDOWN_RELEASE = "drawdown_release"  # the stop lifted today: full targets again, peak reset
STOP_LOSS = "stop_loss"  # a held name was stopped out today: sold at the next open
COOLDOWN = "cooldown"  # a target on a name still cooling down after its stop-loss was dropped
NEVER_TRADE = "never_trade"  # a target on (or a holding of) a never-trade name was dropped
RULES = (DRAWDOWN_STOP, DRAWDOWN_RELEASE, STOP_LOSS, COOLDOWN, NEVER_TRADE)
TOLERANCE = 1e-12  # a loss equal to its limit (up to float rounding) triggers: "down >= 15 %"


@dataclass(frozen=True)
class StopEvent:
    """Something a rule did on a day's targets, for reports and alerts (``symbol`` None: the account)."""

    date: pd.Timestamp
    symbol: str | None
    rule: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"date": str(self.date.date()), "symbol": self.symbol, "rule": self.rule,
                "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class Holding:
    """A held name: the market day its position was opened (from no shares) and the price paid then.
    Adding to a held position keeps its entry; selling all of it ends it."""

    entry_date: pd.Timestamp
    entry_price: float


@dataclass(frozen=True)
class Barred:
    """Why a name may not be bought today: ``rule`` is COOLDOWN or NEVER_TRADE."""

    rule: str
    reason: str


# --- the drawdown stop --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawdownState:
    """The drawdown stop at one market day's close (see :func:`advance_drawdown` for the rule).

    ``peak``: highest equity since the series began or since the stop last lifted; ``drawdown``:
    ``1 - equity / peak`` (a fraction >= 0); ``since``: the day it triggered (None when inactive);
    ``days_active``: market days since it triggered (0 on that day); ``days_left``: market days until it
    lifts (at that day's close; 0 when inactive); ``scale``: what the targets decided today are
    multiplied by (1.0, or ``target_fraction`` while active); ``event``: the trigger or release, if today.
    """

    date: pd.Timestamp
    equity: float
    peak: float
    drawdown: float
    active: bool
    since: pd.Timestamp | None
    days_active: int
    days_left: int
    scale: float
    event: StopEvent | None = None


def advance_drawdown(
    previous: DrawdownState | None, date: pd.Timestamp, equity: float, stop: DrawdownStop
) -> DrawdownState:
    """The state at ``date``'s close from the previous market day's state and today's equity.

    The rule, on equity E_t at each market day's close:

    - inactive: ``peak_t = max(peak_{t-1}, E_t)`` (``peak = E_0`` on the first day) and
      ``drawdown_t = 1 - E_t / peak_t``; when ``drawdown_t >= max_drawdown`` the stop **triggers** at t:
      the targets decided at t's close and at the next ``recovery_days - 1`` closes are scaled to
      ``target_fraction``, so the account runs at reduced exposure for ``recovery_days`` market days
      (from the open of t+1 to the close of t + recovery_days);
    - active: the peak still follows the equity (for reporting); on the market day t + recovery_days the
      stop **lifts**: the targets decided at that close are whole again, and the peak is reset to that
      day's equity, so a drawdown still below the old peak does not trigger it again at once. A new
      trigger needs a fresh ``max_drawdown`` fall from the reset peak.
    """
    date = pd.Timestamp(date)
    equity = float(equity)
    if not np.isfinite(equity) or equity <= 0:
        raise ValueError(f"drawdown stop, {date.date()}: equity must be a positive number, got {equity!r}")
    if previous is None:
        return DrawdownState(date, equity, equity, 0.0, False, None, 0, 0, 1.0)
    if date <= previous.date:
        raise ValueError(f"drawdown stop: {date.date()} does not follow {previous.date.date()}")
    fraction = stop.target_fraction
    if previous.active:
        days = previous.days_active + 1
        if days >= stop.recovery_days:
            reason = (f"drawdown stop lifted after {days} market days at {fraction:.0%} of targets "
                      f"(triggered {previous.since.date()}); peak reset to equity {equity:,.2f}")  # fmt: skip
            event = StopEvent(date, None, DRAWDOWN_RELEASE, reason)
            return DrawdownState(date, equity, equity, 0.0, False, None, 0, 0, 1.0, event)
        peak = max(previous.peak, equity)
        return DrawdownState(date, equity, peak, 1 - equity / peak, True, previous.since, days,
                             stop.recovery_days - days, fraction)  # fmt: skip
    peak = max(previous.peak, equity)
    drawdown = 1 - equity / peak
    if drawdown >= stop.max_drawdown - TOLERANCE:
        reason = (f"equity {equity:,.2f} is {drawdown:.1%} below its peak {peak:,.2f} (limit "
                  f"{stop.max_drawdown:.1%}): targets scaled to {fraction:.0%} for {stop.recovery_days} "
                  "market days")  # fmt: skip
        event = StopEvent(date, None, DRAWDOWN_STOP, reason)
        return DrawdownState(date, equity, peak, drawdown, True, date, 0, stop.recovery_days, fraction, event)
    return DrawdownState(date, equity, peak, drawdown, False, None, 0, 0, 1.0)


def drawdown_states(equity: pd.Series, stop: DrawdownStop) -> list[DrawdownState]:
    """:func:`advance_drawdown` over a daily equity series (index: market days, ascending)."""
    index = pd.DatetimeIndex(equity.index)
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("drawdown stop: the equity series must have one value per market day, in order")
    states: list[DrawdownState] = []
    state = None
    for date, value in zip(index, equity.to_numpy(dtype=float), strict=True):
        state = advance_drawdown(state, date, value, stop)
        states.append(state)
    return states


def drawdown_state(equity: pd.Series, stop: DrawdownStop) -> DrawdownState:
    """The drawdown stop at the last day of ``equity`` (the whole history from the account's start)."""
    if equity.empty:
        raise ValueError("drawdown stop: the equity series is empty")
    return drawdown_states(equity, stop)[-1]


# --- the stop-loss and the cooldown -------------------------------------------------------------------


def stop_loss_breaches(
    close: np.ndarray | float, entry_price: np.ndarray | float, high: np.ndarray | float, stop: StopLoss
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per held name: whether today's close breaches the stop-loss, and its two losses as fractions.

    ``loss_from_entry = 1 - close / entry_price`` and ``loss_from_high = 1 - close / high`` where
    ``high`` is the highest close from the entry day to today, both included. A breach is
    ``loss_from_entry >= from_entry`` or ``loss_from_high >= from_high``; no close today (NaN): no breach.
    """
    close, entry, high = (np.asarray(v, dtype=float) for v in (close, entry_price, high))
    with np.errstate(divide="ignore", invalid="ignore"):
        from_entry = 1 - close / entry
        from_high = 1 - close / high
    hit = (from_entry >= stop.from_entry - TOLERANCE) | (from_high >= stop.from_high - TOLERANCE)
    return hit & np.isfinite(close), from_entry, from_high


def stop_loss_event(
    date: pd.Timestamp, symbol: str, close: float, holding: Holding, high: float, stop: StopLoss
) -> StopEvent:
    """The exit of one breaching name, its reason naming the numbers."""
    _, from_entry, from_high = stop_loss_breaches(close, holding.entry_price, high, stop)
    parts = []
    if from_entry >= stop.from_entry - TOLERANCE:
        parts.append(f"{from_entry:.1%} below its entry {holding.entry_price:.2f} on "
                     f"{holding.entry_date.date()} (limit {stop.from_entry:.1%})")  # fmt: skip
    if from_high >= stop.from_high - TOLERANCE:
        parts.append(f"{from_high:.1%} below its highest close {high:.2f} since entry "
                     f"(limit {stop.from_high:.1%})")  # fmt: skip
    if not parts:
        raise ValueError(f"{symbol} {pd.Timestamp(date).date()}: close {close} breaches no stop-loss limit")
    reason = (f"{symbol}: close {close:.2f} is " + " and ".join(parts)
              + f"; sold at the next open, not bought for {stop.cooldown_days} market days")  # fmt: skip
    return StopEvent(pd.Timestamp(date), symbol, STOP_LOSS, reason)


def stop_loss_exits(
    as_of: pd.Timestamp, holdings: Mapping[str, Holding], closes: pd.DataFrame, stop: StopLoss
) -> list[StopEvent]:
    """The held names to sell at the next open, judged on ``as_of``'s close (``closes``: wide, index
    market days). A name with no close on ``as_of`` is not judged today."""
    as_of = pd.Timestamp(as_of)
    if as_of not in closes.index:
        raise ValueError(f"stop-loss: {as_of.date()} is not a market day of the closes")
    events = []
    for symbol in sorted(holdings):
        holding = holdings[symbol]
        if symbol not in closes.columns:
            raise ValueError(f"stop-loss: {symbol} is held but has no closes")
        if not np.isfinite(holding.entry_price) or holding.entry_price <= 0:
            raise ValueError(f"stop-loss: {symbol} has entry price {holding.entry_price!r}")
        if pd.Timestamp(holding.entry_date) > as_of:
            raise ValueError(f"stop-loss: {symbol} entered {holding.entry_date.date()}, after {as_of.date()}")
        since_entry = closes.loc[pd.Timestamp(holding.entry_date) : as_of, symbol]
        close = float(closes.at[as_of, symbol])
        high = float(since_entry.max())
        if stop_loss_breaches(close, holding.entry_price, high, stop)[0]:
            events.append(stop_loss_event(as_of, symbol, close, holding, high, stop))
    return events


def is_cooling_down(days_since_stop: int | np.ndarray, stop: StopLoss) -> bool | np.ndarray:
    """A name stopped out at the close of day s is barred from the targets decided at s .. s +
    cooldown_days - 1: sold at the open of s+1, it is out for ``cooldown_days`` market days and can be
    bought back at the open of s + cooldown_days + 1 at the earliest. ``days_since_stop`` = d - s."""
    days = np.asarray(days_since_stop)
    cooling = (days >= 0) & (days < stop.cooldown_days)
    return bool(cooling) if cooling.ndim == 0 else cooling


def market_days_between(market_dates: pd.DatetimeIndex, earlier: pd.Timestamp, later: pd.Timestamp) -> int:
    """Market days after ``earlier`` up to and including ``later`` (0 when they are the same day)."""
    dates = pd.DatetimeIndex(market_dates)
    if not dates.is_monotonic_increasing:
        dates = dates.sort_values()
    right = int(dates.searchsorted(pd.Timestamp(later), side="right"))
    return right - int(dates.searchsorted(pd.Timestamp(earlier), side="right"))


def barred_symbols(
    as_of: pd.Timestamp,
    stopped_out: Mapping[str, pd.Timestamp],
    market_dates: pd.DatetimeIndex,
    limits: RiskLimits,
) -> dict[str, Barred]:
    """Names that may not be bought at ``as_of``'s decision: never-trade ones, and those stopped out
    (``stopped_out``: each name's latest stop-loss date) still cooling down (:func:`is_cooling_down`)."""
    as_of = pd.Timestamp(as_of)
    barred = {symbol: Barred(NEVER_TRADE, f"{symbol} is in never_trade (risk limits)")
              for symbol in sorted(limits.never_trade)}  # fmt: skip
    cooldown = limits.stop_loss.cooldown_days
    for symbol, stopped in sorted(stopped_out.items()):
        stopped = pd.Timestamp(stopped)
        if symbol in barred or stopped > as_of:
            continue
        days = market_days_between(market_dates, stopped, as_of)
        if is_cooling_down(days, limits.stop_loss):
            barred[symbol] = Barred(COOLDOWN, f"{symbol} was stopped out on {stopped.date()}: market day "
                                              f"{days + 1} of its {cooldown}-day cooldown")  # fmt: skip
    return barred


def last_stop_outs(events: Iterable[StopEvent]) -> dict[str, pd.Timestamp]:
    """Each name's latest stop-loss date, from the events of earlier days (what the cycle records)."""
    latest: dict[str, pd.Timestamp] = {}
    for event in events:
        if event.rule == STOP_LOSS and event.symbol is not None:
            latest[event.symbol] = max(latest.get(event.symbol, event.date), event.date)
    return latest


# --- all of it on a day's targets ---------------------------------------------------------------------


def restrict_targets(
    targets: pd.Series,
    date: pd.Timestamp,
    *,
    scale: float = 1.0,
    exits: Sequence[StopEvent] = (),
    barred: Mapping[str, Barred] | None = None,
    held: Iterable[str] = (),
) -> tuple[pd.Series, list[StopEvent]]:
    """Target weights (index symbol) with stopped-out and barred names at 0, their weight left in cash
    (not spread over the others), and everything else multiplied by ``scale`` (the drawdown stop's).

    Returns the new weights (every exited or barred name that was targeted or ``held`` listed with 0, so
    the orders sell it) and the events: ``exits`` first, then one per barred name that had a target or
    a holding. A barred name neither targeted nor held is not an event.
    """
    date = pd.Timestamp(date)
    if not 0 <= scale <= 1:
        raise ValueError(f"{date.date()}: target scale must be in [0, 1], got {scale}")
    weights = targets.astype(float)
    values = weights.to_numpy()
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() > 1 + 1e-9:
        raise ValueError(f"{date.date()}: targets must be finite weights >= 0 summing to <= 1")
    held = set(held)
    events = list(exits)
    dropped: dict[str, float] = {e.symbol: 0.0 for e in exits if e.symbol is not None}
    for symbol, why in sorted((barred or {}).items()):
        if symbol in dropped:
            continue
        weight = float(weights.get(symbol, 0.0))
        if weight > 0 or symbol in held:
            what = f"target {weight:.2%} dropped" if weight > 0 else "held: sold"
            events.append(StopEvent(date, symbol, why.rule, f"{why.reason}; {what}"))
            dropped[symbol] = weight
    if not dropped:
        return weights * scale, events
    missing = [s for s in dropped if s not in weights.index]
    if missing:
        weights = pd.concat([weights, pd.Series(0.0, index=pd.Index(missing, name=weights.index.name))])
    kept = np.where(weights.index.isin(list(dropped)), 0.0, weights.to_numpy())
    return pd.Series(kept * scale, index=weights.index, name=weights.name), events


@dataclass(frozen=True)
class LimitedTargets:
    """A day's targets after the drawdown stop, the stop-loss and the never-trade list."""

    weights: pd.Series  # index symbol; the rest of 1 is cash
    events: list[StopEvent]  # the drawdown trigger/release, stop-loss exits, dropped barred targets
    drawdown: DrawdownState
    exits: list[StopEvent]  # today's stop-loss exits (record them: tomorrow's ``stopped_out``)
    barred: dict[str, Barred]


def apply_limits(
    targets: pd.Series,
    as_of: pd.Timestamp,
    limits: RiskLimits,
    *,
    equity: pd.Series,
    closes: pd.DataFrame,
    holdings: Mapping[str, Holding],
    stopped_out: Mapping[str, pd.Timestamp] | None = None,
) -> LimitedTargets:
    """The live cycle's one call, after ``as_of``'s close and before its orders.

    ``equity``: the account's equity at each market day's close since it started, ``as_of`` included
    (the drawdown stop is judged on the whole history: its peak resets when it lifts); ``closes``: wide
    closes up to ``as_of`` (their index is the market-day calendar of the cooldown); ``holdings``: the
    names held now with their entry; ``stopped_out``: each name's latest stop-loss date before today
    (:func:`last_stop_outs` of the recorded events). Names already barred are not judged by the
    stop-loss again (they are being sold or stay out).
    """
    as_of = pd.Timestamp(as_of)
    history = equity.loc[:as_of]
    if history.empty or pd.Timestamp(history.index[-1]) != as_of:
        raise ValueError(f"drawdown stop: the equity series has no value for {as_of.date()}")
    drawdown = drawdown_state(history, limits.drawdown_stop)
    market_dates = pd.DatetimeIndex(closes.index)
    before = barred_symbols(as_of, stopped_out or {}, market_dates, limits)
    judged = {symbol: holding for symbol, holding in holdings.items() if symbol not in before}
    exits = stop_loss_exits(as_of, judged, closes, limits.stop_loss)
    stopped = {**(stopped_out or {}), **{e.symbol: as_of for e in exits}}
    barred = barred_symbols(as_of, stopped, market_dates, limits)
    weights, events = restrict_targets(
        targets, as_of, scale=drawdown.scale, exits=exits, barred=barred, held=holdings
    )
    if drawdown.event is not None:
        events.insert(0, drawdown.event)
    return LimitedTargets(weights, events, drawdown, exits, barred)
