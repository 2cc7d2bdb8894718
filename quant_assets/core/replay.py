"""Replay the platform's decisions day by day, strictly out of sample.

Every ``rebalance_days`` market days from the start, at the close of decision date d:
1. every ``retrain_days`` (and at the first decision) the model is retrained on rows whose label was
   known before d: ``exit_date < d`` and ``date <= d - (label span + embargo)`` market dates, the same
   purge and embargo as the walk-forward (``core.walk_forward``);
2. each symbol's newest features at or before d (``core.policy.forecast_rows``, stale ones left out)
   get a forecast from the current model;
3. the live policy (``core.policy.target_weights``) turns them into target weights; Qlib-style
   TopkDropout and equal weight decide on the same forecasts and days.
The targets are traded by ``core.simulator`` at the next open. Nothing dated after d is read at d.

With risk limits (``ReplayConfig.limits``), :func:`replay_stops` then replays the drawdown stop, the
stop-loss and the never-trade list (``core.stops``) on a policy's targets, every market day at the close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from pypfopt.exceptions import OptimizationError

from quant_assets.core.cross_section import destandardise, normalise_labels
from quant_assets.core.labels import EXIT_DATE, label_span
from quant_assets.core.limits import RiskLimits
from quant_assets.core.model import model_fingerprint, predict_returns, train_regressor
from quant_assets.core.policy import (
    STALE_AFTER_DAYS,
    PolicyConfig,
    default_topk,
    equal_weights,
    forecast_rows,
    target_weights,
    topk_dropout_weights,
)
from quant_assets.core.simulator import SimulationResult
from quant_assets.core.stops import (
    DRAWDOWN_STOP,
    RULES,
    DrawdownState,
    Holding,
    StopEvent,
    advance_drawdown,
    barred_symbols,
    is_cooling_down,
    restrict_targets,
    stop_loss_breaches,
    stop_loss_event,
)

POLICIES = ("policy", "topk", "equal_weight")
MIN_TRAIN_ROWS = 200
DISPERSION_DAYS = 400  # calendar days of known labels behind a score -> return conversion (~252 dates)
STOP_HORIZON_DAYS = 63  # market days simulated past the last settled day when looking for the next stop


@dataclass(frozen=True)
class ReplayConfig:
    horizon_days: int = 5
    rebalance_days: int = 5  # trade every 5 market days
    retrain_days: int = 21  # retrain about monthly
    embargo_days: int = 5
    warmup_days: int = 504  # default start: after the first two years of market dates
    start: pd.Timestamp | None = None  # first decision date (at or after); overrides warmup_days
    end: pd.Timestamp | None = None  # last decision date (at or before)
    span_days: int | None = None  # replay only the last N market dates (a short run); None: all
    seed: int = 42
    params: dict[str, object] | None = None  # XGBoost parameters (None: the platform's defaults)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    topk: int | None = None  # TopkDropout's k (None: 1 / max_weight, so it obeys the same cap)
    n_drop: int | None = None  # names swapped per rebalance (None: k // 5, at least 1)
    # Train on labels normalised per date ("rank" or "zscore", core.cross_section); None: raw returns.
    # The scores are turned back into returns for the optimiser with the known labels' dispersion.
    label_transform: str | None = None
    # The drawdown stop, the stop-loss and the never-trade list replayed on the policy's and TopkDropout's
    # targets (core.stops, replay_stops); None: the targets are traded as decided.
    limits: RiskLimits | None = None

    def __post_init__(self) -> None:
        for name in ("horizon_days", "rebalance_days", "retrain_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.embargo_days < 0 or self.warmup_days < 0:
            raise ValueError("embargo_days and warmup_days cannot be negative")

    @property
    def k(self) -> int:
        return self.topk or default_topk(self.policy.max_weight)

    @property
    def drop(self) -> int:
        return self.n_drop if self.n_drop is not None else max(1, self.k // 5)


@dataclass(frozen=True)
class ModelFit:
    """One model of the replay: when it was trained and on what."""

    decision_date: pd.Timestamp
    train_start: pd.Timestamp
    train_end: pd.Timestamp  # newest feature date in its rows
    label_known_by: pd.Timestamp  # newest exit date in its rows (< decision_date)
    rows: int
    fingerprint: str


@dataclass
class Replay:
    decision_dates: pd.DatetimeIndex
    targets: dict[str, pd.DataFrame]  # policy -> index decision date, columns symbols, weights
    predictions: pd.DataFrame  # date, symbol, predicted, realised (the label; NaN if not known by the end)
    models: list[ModelFit]
    warnings: list[str]


def decision_dates(market_dates: pd.DatetimeIndex, config: ReplayConfig) -> pd.DatetimeIndex:
    """Every ``rebalance_days``-th market date from the start to the end; never the last market date
    (its targets could not be traded: there is no next open)."""
    dates = pd.DatetimeIndex(market_dates).unique().sort_values()
    first = config.warmup_days if config.start is None else int(dates.searchsorted(config.start))
    last = len(dates) - 2
    if config.span_days is not None:
        first = max(first, last - config.span_days + 1)
    if config.end is not None:
        last = min(last, int(dates.searchsorted(config.end, side="right")) - 1)
    if first > last:
        raise ValueError(
            f"no decision dates: {len(dates)} market dates "
            f"({dates[0].date() if len(dates) else '-'}..{dates[-1].date() if len(dates) else '-'}), "
            f"replay would start at date #{first} and end at #{last}; give an earlier --start or more "
            f"history (the default start skips the first {config.warmup_days} dates for training)"
        )
    return dates[first : last + 1 : config.rebalance_days]


def _training_rows(
    rows: pd.DataFrame, market_dates: pd.DatetimeIndex, decision: int, config: ReplayConfig
) -> pd.DataFrame:
    gap = label_span(config.horizon_days) + config.embargo_days
    if decision - gap < 0:
        return rows.iloc[:0]
    newest = market_dates[decision - gap]
    mask = (rows["date"].to_numpy() <= newest.to_datetime64()) & (
        rows[EXIT_DATE].to_numpy() < market_dates[decision].to_datetime64()
    )
    return rows[mask]


def replay_policy(
    features: pd.DataFrame,
    training_rows: pd.DataFrame,
    closes: pd.DataFrame,
    feature_names: list[str],
    label: str,
    config: ReplayConfig,
    *,
    on_model: Callable[[ModelFit, xgb.XGBRegressor], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Replay:
    """Decide target weights at every decision date with models retrained on the past only.

    ``features``: ``symbol, date, *feature_names`` for every bar; ``training_rows``: the same plus
    ``label`` and ``exit_date`` (the point-in-time training set); ``closes``: wide daily closes.
    """
    missing = [c for c in ("symbol", "date", label, EXIT_DATE) if c not in training_rows.columns]
    if missing:
        raise ValueError(f"training rows lack column(s) {missing}: they must carry labels and exit dates")
    market_dates = pd.DatetimeIndex(closes.index).sort_values()
    closes = closes.reindex(market_dates)
    dates = decision_dates(market_dates, config)
    features = features.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    feature_dates = features["date"].to_numpy()
    training_rows = training_rows.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    label_dates = training_rows["date"].to_numpy()
    fit_rows = (
        normalise_labels(training_rows, label, config.label_transform)
        if config.label_transform
        else training_rows
    )
    lookback = config.policy.lookback
    targets: dict[str, dict[pd.Timestamp, pd.Series]] = {name: {} for name in POLICIES}
    prediction_parts, models, warnings = [], [], []
    model, last_fit, topk_held = None, None, pd.Index([])

    for number, date in enumerate(dates):
        position = int(market_dates.get_loc(date))
        if model is None or position - last_fit >= config.retrain_days:
            rows = _training_rows(fit_rows, market_dates, position, config)
            if len(rows) < MIN_TRAIN_ROWS:
                raise ValueError(
                    f"{date.date()}: only {len(rows)} labelled rows known before this decision "
                    f"(need {MIN_TRAIN_ROWS}); start the replay later"
                )
            model = train_regressor(rows[feature_names], rows[label], seed=config.seed, params=config.params)
            last_fit = position
            fit = ModelFit(
                decision_date=date,
                train_start=rows["date"].min(),
                train_end=rows["date"].max(),
                label_known_by=rows[EXIT_DATE].max(),
                rows=len(rows),
                fingerprint=model_fingerprint(model),
            )
            models.append(fit)
            if on_model is not None:
                on_model(fit, model)
            if progress is not None:
                progress(
                    f"backtest: decision {number + 1}/{len(dates)} ({date.date()}), model {len(models)} "
                    f"trained on {len(rows):,} rows up to {fit.train_end.date()}"
                )
        window_start = date - pd.Timedelta(days=STALE_AFTER_DAYS + 1)
        lo, hi = np.searchsorted(feature_dates, [window_start.to_datetime64(), date.to_datetime64()], "right")
        latest = forecast_rows(features.iloc[lo:hi], as_of=date)
        fresh = latest[~latest["stale"]]
        if fresh.empty:
            warnings.append(f"{date.date()}: no symbol has fresh features; no trade")
            continue
        forecasts = pd.Series(
            predict_returns(model, fresh[feature_names]), index=pd.Index(fresh["symbol"], name="symbol")
        )
        if config.label_transform:  # scores -> returns, from labels already known at this decision
            lo = int(
                np.searchsorted(label_dates, (date - pd.Timedelta(days=DISPERSION_DAYS)).to_datetime64())
            )
            recent = training_rows.iloc[lo : np.searchsorted(label_dates, date.to_datetime64())]
            forecasts = destandardise(forecasts, recent[recent[EXIT_DATE] < date], label)
        prediction_parts.append(pd.DataFrame({"date": date, "symbol": fresh["symbol"].to_numpy(),
                                              "predicted": forecasts.to_numpy()}))  # fmt: skip
        window = closes.iloc[max(0, position + 1 - lookback) : position + 1]
        try:
            decided = target_weights(
                forecasts, window, horizon_days=config.horizon_days, config=config.policy
            )
            targets["policy"][date] = decided.weights
        except (ValueError, OptimizationError) as error:  # the live asset fails here; a replay holds
            warnings.append(f"{date.date()}: policy made no targets ({error}); holdings kept")
        chosen = topk_dropout_weights(forecasts, topk_held, k=config.k, n_drop=config.drop)
        targets["topk"][date] = chosen
        topk_held = chosen.index
        targets["equal_weight"][date] = equal_weights(list(forecasts.index))

    predictions = (
        pd.concat(prediction_parts, ignore_index=True)
        if prediction_parts
        else pd.DataFrame(columns=["date", "symbol", "predicted"])
    )
    realised = training_rows[["symbol", "date", label]].rename(columns={label: "realised"})
    predictions = predictions.merge(realised, on=["symbol", "date"], how="left")
    frames = {
        name: pd.DataFrame(decided).T.reindex(columns=closes.columns).fillna(0.0).rename_axis("date")
        if decided
        else pd.DataFrame(columns=closes.columns, dtype=float)
        for name, decided in targets.items()
    }
    return Replay(dates, frames, predictions, models, warnings)


@dataclass(frozen=True)
class StoppedRun:
    """A policy's targets after the risk limits, and the simulation of them that decided every stop."""

    targets: pd.DataFrame  # the rows traded: the policy's (restricted, scaled) and the stops' own rows
    events: list[StopEvent]  # in date order: drawdown triggers/releases, stop-loss exits, dropped targets
    result: SimulationResult  # the account the rules were judged on, to the last market date
    simulations: int  # how many (prefix) simulations the replay took

    def counts(self) -> dict[str, int]:
        """Events per rule (``core.stops.RULES``), zeros included."""
        return {rule: sum(e.rule == rule for e in self.events) for rule in RULES}


def replay_stops(
    targets: pd.DataFrame,
    closes: pd.DataFrame,
    limits: RiskLimits,
    simulate_until: Callable[[pd.DataFrame, pd.Timestamp], SimulationResult],
    *,
    horizon_days: int = STOP_HORIZON_DAYS,
) -> StoppedRun:
    """Replay ``core.stops`` on ``targets`` (index decision date, columns symbols) at every market close.

    ``simulate_until(rows, end)`` must simulate ``rows`` on the prices up to ``end`` only (the caller
    binds costs and capital). The rules, as the live cycle applies them, at each market day d's close:

    - the drawdown stop (``advance_drawdown``) on the simulated equity at d; while it is active the
      policy's rows are scaled to ``target_fraction``; when it lifts, the latest policy row comes back whole;
    - the stop-loss on every held name (entry: the day its position was opened from no shares, at that
      buy's fill price; high: its highest close since); a name already barred is not judged again;
    - names stopped out and still cooling down, and never-trade names, are zeroed in every row; their
      weight stays in cash.

    Rows: a policy row at d is restricted and scaled; a day where a rule fires and no policy row exists
    gets its own row: the account's weights at d's close (positions x close / equity), with the exited
    names zeroed (scaled too on the day the drawdown stop triggers); a release day without a policy row
    gets the latest policy row. Each row trades at the next open, like any other; the simulator trades
    every name to its row, so on a rule's own row the other names are re-levelled from their weights at
    the close to the open: small trades from the overnight move (which a live no-trade band would skip).

    How, causally: the simulator only runs whole target frames, so the replay simulates, scans the days
    from the last settled one until a rule fires at some day e, records it and e's row, and simulates
    again; everything up to e is unchanged by rows dated e or later (they trade from e+1). A row dated d
    depends only on rules fired at or before d and on the account up to d, and each simulation is given
    prices only up to a horizon a few months past the settled day, so nothing decided at d reads a price
    after d. The simulations grow with the number of days a rule fires.
    """
    market = pd.DatetimeIndex(closes.index).sort_values()
    symbols = list(closes.columns)
    unknown = sorted(set(targets.columns) - set(symbols), key=str)
    if unknown and (targets[unknown].fillna(0) > 0).any().any():
        raise ValueError(f"stops: targets name symbols with no prices: {unknown[:10]}")
    policy = targets.reindex(columns=symbols).fillna(0.0)
    positions = market.get_indexer(pd.DatetimeIndex(policy.index))
    if len(positions) == 0 or (positions < 0).any():
        raise ValueError("stops: the targets are empty or dated on days with no market data")
    policy_rows = dict(zip(positions.tolist(), policy.to_numpy(dtype=float), strict=True))
    policy_days = np.array(sorted(policy_rows))
    close = closes.reindex(market).to_numpy(dtype=float)
    last_close = pd.DataFrame(close).ffill().to_numpy()
    n = len(symbols)
    stop, fraction = limits.stop_loss, limits.drawdown_stop.target_fraction
    never = np.isin(np.asarray(symbols, dtype=object), list(limits.never_trade))
    start, last = int(policy_days[0]), len(market) - 1

    rows: dict[int, np.ndarray] = {}  # settled rows, by market-day position
    triggers: dict[int, int] = {}  # drawdown trigger day -> the day it lifts
    exits: dict[int, list[StopEvent]] = {}
    current: dict[int, np.ndarray] = {}  # the account's weights on rule days without a policy row
    last_stop = np.full(n, -(10**9))  # each name's latest stop-loss day
    entry_day, entry_price, high = np.full(n, -1), np.full(n, np.nan), np.full(n, np.nan)
    shares_before = np.zeros(n)
    events: list[StopEvent] = []
    drawdown: DrawdownState | None = None

    def barred_on(day: int) -> tuple[dict, np.ndarray]:
        cooling = np.flatnonzero(is_cooling_down(day - last_stop, stop))
        stopped = {symbols[j]: market[last_stop[j]] for j in cooling}
        return barred_symbols(market[day], stopped, market, limits), never | np.isin(np.arange(n), cooling)

    def row_for(day: int, held: Iterable[str] = ()) -> tuple[np.ndarray, list[StopEvent]] | None:
        if day in triggers.values():
            base, scale = policy_rows[int(policy_days[np.searchsorted(policy_days, day, "right") - 1])], 1.0
        elif day in policy_rows:
            active = any(t <= day < r for t, r in triggers.items())
            base, scale = policy_rows[day], fraction if active else 1.0
        elif day in current:
            base, scale = current[day], fraction if day in triggers else 1.0
        else:
            return None
        weights, found = restrict_targets(
            pd.Series(base, index=symbols), market[day], scale=scale, exits=exits.get(day, ()),
            barred=barred_on(day)[0], held=held,
        )  # fmt: skip
        return (weights if len(weights) == n else weights.reindex(symbols)).to_numpy(), found

    frontier, span, simulations = start, horizon_days, 0
    while True:
        horizon = min(frontier + span, last)
        tentative = dict(rows)
        for day in range(frontier, horizon + 1):
            built = row_for(day)
            if built is not None:
                tentative[day] = built[0]
        days = sorted(tentative)
        frame = pd.DataFrame(np.array([tentative[d] for d in days]), index=market[days], columns=symbols)
        result = simulate_until(frame.rename_axis("date"), market[horizon])
        simulations += 1
        window = market[frontier : horizon + 1]
        held_shares = result.positions.reindex(index=window, columns=symbols).to_numpy(dtype=float)
        equity = result.equity["equity"].reindex(window).to_numpy(dtype=float)
        trades = result.trades
        buys = trades[trades["date"].isin(window) & (trades["shares"] > 0)]
        fills = dict(zip(zip(buys["date"], buys["symbol"], strict=True), buys["price"], strict=True))
        fired = None
        for k, day in enumerate(range(frontier, horizon + 1)):
            shares = np.nan_to_num(held_shares[k])
            held = shares > 0
            opened = np.flatnonzero(held & ~(shares_before > 0))
            for j in opened:
                entry_day[j], entry_price[j], high[j] = day, fills[(market[day], symbols[j])], np.nan
            high = np.where(held, np.fmax(high, close[day]), np.nan)
            entry_day[~held], entry_price[~held] = -1, np.nan
            shares_before = shares
            drawdown = advance_drawdown(drawdown, market[day], equity[k], limits.drawdown_stop)
            new = False
            if drawdown.event is not None:
                events.append(drawdown.event)
                if drawdown.event.rule == DRAWDOWN_STOP:
                    triggers[day], new = day + drawdown.days_left, True
            judged = np.flatnonzero(held & ~barred_on(day)[1])
            hit = stop_loss_breaches(close[day, judged], entry_price[judged], high[judged], stop)[0]
            today = [stop_loss_event(market[day], symbols[j], close[day, j],
                                     Holding(market[entry_day[j]], entry_price[j]), high[j], stop)
                     for j in judged[hit]]  # fmt: skip
            if today:
                exits[day], new = today, True
                last_stop[judged[hit]] = day
            if new:
                current[day] = np.nan_to_num(shares * last_close[day] / equity[k])
            built = row_for(day, [symbols[j] for j in np.flatnonzero(held)])
            if built is not None:
                rows[day] = built[0]
                events.extend(built[1])
            if new:
                fired = day
                break
        if fired is not None:
            frontier, span = fired + 1, horizon_days
        elif horizon == last:
            break
        else:
            frontier, span = horizon + 1, span * 2
    settled = sorted(rows)
    traded = pd.DataFrame(np.array([rows[d] for d in settled]), index=market[settled], columns=symbols)
    return StoppedRun(traded.rename_axis("date"), events, result, simulations)
