"""Forecast-quality measures for return predictions, and a test of whether one forecast beats another.

All inputs are simple returns over the same horizon. Definitions:
- rmse, mae: in return units (0.01 = 1 %);
- mape: mean absolute percentage error of the implied exit price, entry * (1 + r), i.e.
  mean(|predicted - realised| / (1 + realised));
- directional_accuracy: share of rows with a non-zero realised return and a non-zero forecast whose
  sign was right (NaN for a forecast that never names a direction, like "zero");
- ic: Pearson correlation of predicted and realised over all rows;
- rank_ic: mean over dates of the cross-sectional Spearman correlation (dates with >= 3 names);
- icir: mean / standard deviation of those per-date rank ICs (an information ratio, not annualised).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METRIC_NAMES = ("rmse", "mae", "mape", "directional_accuracy", "ic", "rank_ic", "icir")


def _is_constant(values: np.ndarray) -> bool:
    return len(values) < 2 or float(np.nanstd(values)) == 0.0


def per_date_rank_ic(realised: np.ndarray, predicted: np.ndarray, dates: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame({"date": dates, "p": predicted, "r": realised})
    values = [
        stats.spearmanr(g["p"], g["r"]).statistic
        for _, g in frame.groupby("date", sort=True)
        if len(g) >= 3 and g["p"].nunique() > 1 and g["r"].nunique() > 1
    ]
    return np.asarray(values, dtype=float)


def regression_metrics(
    realised: np.ndarray, predicted: np.ndarray, dates: np.ndarray | None = None
) -> dict[str, float]:
    """The metrics above (NaN where undefined, e.g. IC of a constant forecast) plus ``n``."""
    realised = np.asarray(realised, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    errors = predicted - realised
    called = (realised != 0) & (predicted != 0)
    metrics = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "mape": float(np.mean(np.abs(errors) / (1 + realised))),
        "directional_accuracy": (
            float(np.mean(np.sign(predicted[called]) == np.sign(realised[called])))
            if called.any()
            else float("nan")
        ),
        "ic": float("nan") if _is_constant(predicted) else float(np.corrcoef(predicted, realised)[0, 1]),
        "rank_ic": float("nan"),
        "icir": float("nan"),
        "n": float(len(realised)),
    }
    if dates is not None and not _is_constant(predicted):
        ics = per_date_rank_ic(realised, predicted, np.asarray(dates))
        if len(ics):
            metrics["rank_ic"] = float(np.mean(ics))
            metrics["icir"] = float(np.mean(ics) / np.std(ics, ddof=1)) if len(ics) > 1 else float("nan")
    return metrics


def diebold_mariano(
    realised: np.ndarray, forecast_a: np.ndarray, forecast_b: np.ndarray, horizon: int
) -> tuple[float, float]:
    """Diebold-Mariano test on squared errors: is forecast ``a`` more accurate than ``b``?

    Returns ``(statistic, one-sided p-value)``; a negative statistic favours ``a``. The loss
    differential's variance uses a Newey-West estimate with ``horizon - 1`` lags, because
    overlapping h-step forecasts have autocorrelated errors (Diebold & Mariano 1995; Harvey,
    Leybourne & Newbold 1997 small-sample correction).
    """
    realised = np.asarray(realised, dtype=float)
    d = (np.asarray(forecast_a) - realised) ** 2 - (np.asarray(forecast_b) - realised) ** 2
    n = len(d)
    if n < 3 or np.allclose(d, d[0]):
        return 0.0, 0.5
    centred = d - d.mean()
    variance = centred @ centred / n
    for lag in range(1, max(horizon, 1)):
        variance += 2 * (1 - lag / horizon) * (centred[lag:] @ centred[:-lag]) / n
    if variance <= 0:
        return 0.0, 0.5
    statistic = d.mean() / np.sqrt(variance / n)
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic *= correction
    return float(statistic), float(stats.t.cdf(statistic, df=n - 1))
