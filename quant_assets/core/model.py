"""Train an XGBoost return forecaster and score it honestly.

The hold-out is the most recent slice of dates, and the ``purge`` trading days before it are dropped
from training: their labels look ``horizon`` days ahead, into the hold-out, and would leak it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import stats

DEFAULT_XGB_PARAMS: dict[str, object] = {
    "n_estimators": 300,
    "max_depth": 4,
    "learning_rate": 0.03,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 20,
    "reg_lambda": 1.0,
    "tree_method": "hist",
    "n_jobs": 2,
}


@dataclass(frozen=True)
class HoldoutSplit:
    """Boolean masks over the rows of a dataset plus the dates that bound them."""

    train: np.ndarray
    valid: np.ndarray
    train_end: pd.Timestamp
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp


def holdout_split(dates: pd.Series, *, valid_fraction: float, purge_days: int) -> HoldoutSplit:
    """Split rows by date: the last ``valid_fraction`` of distinct dates is the hold-out.

    Training keeps dates strictly before the hold-out minus ``purge_days`` distinct dates.
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    unique_dates = np.sort(pd.to_datetime(dates).unique())
    n_valid = max(1, int(round(len(unique_dates) * valid_fraction)))
    n_train = len(unique_dates) - n_valid - purge_days
    if n_train < 1:
        raise ValueError(
            f"not enough history to split: {len(unique_dates)} dates, {n_valid} for validation, "
            f"{purge_days} purged; need at least {n_valid + purge_days + 1}"
        )
    valid_start = pd.Timestamp(unique_dates[-n_valid])
    train_end = pd.Timestamp(unique_dates[n_train - 1])
    as_dates = pd.to_datetime(dates).to_numpy()
    return HoldoutSplit(
        train=as_dates <= np.datetime64(train_end),
        valid=as_dates >= np.datetime64(valid_start),
        train_end=train_end,
        valid_start=valid_start,
        valid_end=pd.Timestamp(unique_dates[-1]),
    )


def train_regressor(
    features: pd.DataFrame, target: pd.Series, *, seed: int, params: dict[str, object] | None = None
) -> xgb.XGBRegressor:
    """Fit a gradient-boosted tree regressor; NaN features (short histories) are handled natively."""
    model = xgb.XGBRegressor(**{**DEFAULT_XGB_PARAMS, **(params or {})}, random_state=seed)
    model.fit(features.to_numpy(dtype=np.float32), target.to_numpy(dtype=np.float64))
    return model


def predict_returns(model: xgb.XGBRegressor, features: pd.DataFrame) -> np.ndarray:
    return model.predict(features.to_numpy(dtype=np.float32)).astype(np.float64)


def _nan_if_constant(values: np.ndarray) -> bool:
    return len(values) < 2 or np.nanstd(values) == 0


def regression_metrics(
    realised: np.ndarray, predicted: np.ndarray, dates: np.ndarray | None = None
) -> dict[str, float]:
    """Forecast quality of predicted vs realised returns.

    rmse/mae in return units; directional_accuracy is the share of rows with a non-zero realised
    return whose sign the prediction got right; ic is the Pearson correlation; rank_ic the mean
    over dates of the cross-sectional Spearman correlation (NaN when undefined).
    """
    realised = np.asarray(realised, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    errors = predicted - realised
    moving = realised != 0
    metrics = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "directional_accuracy": float(np.mean(np.sign(predicted[moving]) == np.sign(realised[moving]))),
        "ic": float("nan") if _nan_if_constant(predicted) else float(np.corrcoef(predicted, realised)[0, 1]),
        "rank_ic": float("nan"),
        "n": float(len(realised)),
    }
    if dates is not None and not _nan_if_constant(predicted):
        frame = pd.DataFrame({"date": dates, "p": predicted, "r": realised})
        per_date = [
            stats.spearmanr(g["p"], g["r"]).statistic
            for _, g in frame.groupby("date")
            if len(g) >= 3 and g["p"].nunique() > 1 and g["r"].nunique() > 1
        ]
        metrics["rank_ic"] = float(np.mean(per_date)) if per_date else float("nan")
    return metrics


def baseline_predictions(train_target: pd.Series, n_rows: int) -> dict[str, np.ndarray]:
    """Naive forecasts any model must beat: a zero return, and the training-period mean return."""
    return {
        "zero": np.zeros(n_rows),
        "train_mean": np.full(n_rows, float(train_target.mean())),
    }
