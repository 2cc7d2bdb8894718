"""Hyperparameter search (Optuna, TPE) on a time budget, on dates no walk-forward test window can see.

Tuning on the evaluation windows would make the walk-forward report optimistic: the search would pick
whatever happened to fit those quarters. So the search lives entirely before the first test window: its
data ends ``purge + embargo`` dates before that window (no label reaches into it), its last
``validation_days`` dates score the trials, and its training rows end ``purge + embargo`` dates before
those. The defaults are always trial 0, so the winner is never worse than them on the search's own
validation window. A time budget makes the trial count depend on the machine; ``max_trials`` bounds it,
and with a fixed count the search is reproducible (seeded sampler, seeded models).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_assets.core.labels import EXIT_DATE
from quant_assets.core.model import DEFAULT_XGB_PARAMS, predict_returns, train_regressor
from quant_assets.core.walk_forward import WalkForwardConfig, walk_forward_folds

TUNED_PARAMS = (
    "n_estimators",
    "max_depth",
    "learning_rate",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "reg_lambda",
)


@dataclass(frozen=True)
class TuningConfig:
    seconds: float  # wall-clock budget for the whole search
    max_trials: int = 50
    validation_days: int = 126  # about six months of sessions score each trial
    min_train_days: int = 252
    seed: int = 42

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.max_trials < 1:
            raise ValueError(
                f"tuning needs seconds > 0 and max_trials >= 1, got {self.seconds}, {self.max_trials}"
            )


@dataclass
class TuningResult:
    best_params: dict[str, object]
    best_rmse: float
    default_rmse: float
    trials: list[dict[str, object]] = field(default_factory=list)  # number, params, rmse, seconds
    train_dates: tuple[str, str] = ("", "")
    validation_dates: tuple[str, str] = ("", "")

    def describe(self) -> dict[str, object]:
        return {
            "tuning_trials": len(self.trials),
            "tuning_best_rmse": self.best_rmse,
            "tuning_default_rmse": self.default_rmse,
            "tuning_train": "..".join(self.train_dates),
            "tuning_validation": "..".join(self.validation_dates),
        }


def tuning_split(
    dates: pd.Series, wf: WalkForwardConfig, config: TuningConfig, exit_dates: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean row masks ``(train, validation)`` wholly before the first walk-forward test window.

    With ``exit_dates`` a row also needs its label known before the window after it opens (validation
    before the test window, training before validation), whatever gaps its symbol has.
    """
    first_test = min(walk_forward_folds(dates, wf), key=lambda f: f.number).test_start
    unique = np.sort(dates.unique())
    gap = wf.purge_days + wf.embargo_days
    end = int(np.searchsorted(unique, np.datetime64(first_test))) - gap  # dates [0, end) may be used
    valid_start = end - config.validation_days
    train_end = valid_start - gap
    if train_end < config.min_train_days:
        raise ValueError(
            f"not enough history before the first test window ({first_test.date()}) to tune: "
            f"{max(train_end, 0)} training dates, need {config.min_train_days} "
            f"(+ {config.validation_days} validation + 2 x {gap} gap dates)"
        )
    values = dates.to_numpy()
    train = values < unique[train_end]
    validation = (values >= unique[valid_start]) & (values < unique[end])
    if exit_dates is not None:
        exits = pd.to_datetime(exit_dates).to_numpy()
        train &= exits < unique[valid_start]
        validation &= exits < np.datetime64(first_test)
    return train, validation


def _suggest(trial) -> dict[str, object]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=50),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.2, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 200.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 100.0, log=True),
    }


def tune_hyperparameters(
    dataset: pd.DataFrame,
    feature_names: list[str],
    label: str,
    wf: WalkForwardConfig,
    config: TuningConfig,
    on_trial: Callable[[dict[str, object]], None] | None = None,
) -> TuningResult:
    """Search XGBoost parameters for the lowest validation RMSE; ``on_trial`` sees each finished trial."""
    import optuna

    train_mask, valid_mask = tuning_split(dataset["date"], wf, config, dataset.get(EXIT_DATE))
    train, valid = dataset[train_mask], dataset[valid_mask]
    trials: list[dict[str, object]] = []

    def objective(trial) -> float:
        started = time.perf_counter()
        params = _suggest(trial)
        model = train_regressor(train[feature_names], train[label], seed=config.seed, params=params)
        errors = valid[label].to_numpy() - predict_returns(model, valid[feature_names])
        score = float(np.sqrt(np.mean(errors**2)))
        record = {"number": trial.number, "params": params, "rmse": score,
                  "seconds": time.perf_counter() - started}  # fmt: skip
        trials.append(record)
        if on_trial is not None:
            on_trial(record)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.enqueue_trial({name: DEFAULT_XGB_PARAMS[name] for name in TUNED_PARAMS})
    study.optimize(objective, n_trials=config.max_trials, timeout=config.seconds)
    best = min(trials, key=lambda t: (t["rmse"], t["number"]))
    day = lambda frame, i: str(pd.Timestamp(frame["date"].iloc[i]).date())  # noqa: E731
    train_sorted, valid_sorted = train.sort_values("date"), valid.sort_values("date")
    return TuningResult(
        best_params=dict(best["params"]),
        best_rmse=float(best["rmse"]),
        default_rmse=float(trials[0]["rmse"]),
        trials=trials,
        train_dates=(day(train_sorted, 0), day(train_sorted, -1)),
        validation_dates=(day(valid_sorted, 0), day(valid_sorted, -1)),
    )
