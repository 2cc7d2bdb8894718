"""Naive forecasts every model must beat, fitted and scored on exactly the model's folds.

- zero: no change expected (the random-walk forecast of a return);
- momentum: the last 20 trading days' return, scaled to the horizon (trend continues);
- ridge: a regularised linear model on the same features (missing values imputed by the training
  median, features standardised on the training rows only).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MOMENTUM_FEATURE, MOMENTUM_DAYS = "ret_20d", 20

Baseline = Callable[[pd.DataFrame, pd.Series, pd.DataFrame, int], np.ndarray]


def zero_forecast(
    train_x: pd.DataFrame, train_y: pd.Series, test_x: pd.DataFrame, horizon: int
) -> np.ndarray:
    return np.zeros(len(test_x))


def momentum_forecast(
    train_x: pd.DataFrame, train_y: pd.Series, test_x: pd.DataFrame, horizon: int
) -> np.ndarray:
    """Compounded 20-day return rescaled to ``horizon`` days; 0 where the history is too short."""
    past = test_x[MOMENTUM_FEATURE].to_numpy(dtype=float)
    return np.nan_to_num((1 + past) ** (horizon / MOMENTUM_DAYS) - 1, nan=0.0)


def ridge_forecast(
    train_x: pd.DataFrame, train_y: pd.Series, test_x: pd.DataFrame, horizon: int
) -> np.ndarray:
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(alpha=10.0)
    )
    model.fit(train_x.to_numpy(dtype=float), train_y.to_numpy(dtype=float))
    return model.predict(test_x.to_numpy(dtype=float))


BASELINES: dict[str, Baseline] = {
    "zero": zero_forecast,
    "momentum": momentum_forecast,
    "ridge": ridge_forecast,
}
# Features a baseline reads by name; it is left out of a comparison on a feature set without them.
BASELINE_INPUTS: dict[str, tuple[str, ...]] = {"momentum": (MOMENTUM_FEATURE,)}


def applicable_baselines(feature_names: list[str]) -> dict[str, Baseline]:
    return {
        name: forecast
        for name, forecast in BASELINES.items()
        if set(BASELINE_INPUTS.get(name, ())) <= set(feature_names)
    }
