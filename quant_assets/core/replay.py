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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from pypfopt.exceptions import OptimizationError

from quant_assets.core.cross_section import destandardise, normalise_labels
from quant_assets.core.labels import EXIT_DATE, label_span
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

POLICIES = ("policy", "topk", "equal_weight")
MIN_TRAIN_ROWS = 200
DISPERSION_DAYS = 400  # calendar days of known labels behind a score -> return conversion (~252 dates)


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
