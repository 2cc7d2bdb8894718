"""Per-date (cross-sectional) normalisation of features and labels, as Qlib's CSRankNorm / CSZScoreNorm.

A portfolio needs names ranked well against each other on the same day more than it needs each
return's level. Normalising per date removes what every name shares that day (the market's move).

Point in time: a feature row at t is normalised with the other names' features at t, all known at t's
close. A label at t is normalised with the other names' labels at t, so it is known only when the last
of them is: :func:`normalise_labels` moves each row's ``exit_date`` to the latest exit of its date, and
the splits' purge (exit < test start) keeps working. A model trained on such labels predicts a score,
not a return: :class:`ReturnScale` turns it back into an expected return with the mean and dispersion
of labels known when the model was trained.

- ``rank``: Qlib's CSRankNorm, ``(percentile rank - 0.5) * 3.46`` (about unit variance);
- ``zscore``: ``(x - mean) / std`` of the date (population std; a constant date gives 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from quant_assets.core.labels import EXIT_DATE

METHODS = ("rank", "zscore")
RANK_SCALE = 3.46  # Qlib's constant: sqrt(12) ~ 3.46 turns a uniform(0, 1) rank into unit variance
ArrayOrSeries = TypeVar("ArrayOrSeries", np.ndarray, pd.Series)


def _check(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"per-date normalisation must be one of {METHODS}, got {method!r}")


def normalise_per_date(frame: pd.DataFrame, columns: list[str], method: str) -> pd.DataFrame:
    """A copy with ``columns`` normalised within each date (NaN stays NaN and is left out of the stats)."""
    _check(method)
    out = frame.copy()
    grouped = out.groupby("date", sort=False)[list(columns)]
    if method == "rank":
        out[list(columns)] = (grouped.rank(pct=True) - 0.5) * RANK_SCALE
    else:
        mean = grouped.transform("mean")
        std = grouped.transform(lambda x: x.std(ddof=0))
        values = (out[list(columns)] - mean) / std.replace(0, np.nan)
        out[list(columns)] = values.where(std.ne(0) | out[list(columns)].isna(), 0.0)
    return out


def normalise_labels(rows: pd.DataFrame, label: str, method: str) -> pd.DataFrame:
    """Labels normalised per date, each row's exit date moved to the latest exit on its date."""
    out = normalise_per_date(rows, [label], method)
    out[EXIT_DATE] = out.groupby("date", sort=False)[EXIT_DATE].transform("max")
    return out


@dataclass(frozen=True)
class ReturnScale:
    """Score of a model trained on normalised labels -> expected raw return over the horizon.

    ``expected return = mean + dispersion * score``: ``mean`` is the typical cross-sectional mean of the
    raw label on a date and ``dispersion`` its typical cross-sectional (population) standard deviation,
    both averaged over the dates of ``window`` (labels known when the model was trained). The identity
    (0, 1) is the scale of a model that learns the raw return itself.
    """

    mean: float = 0.0
    dispersion: float = 1.0
    window: str = ""  # first..last date of the labels it was measured on; "" for the identity

    def to_returns(self, scores: ArrayOrSeries) -> ArrayOrSeries:
        return self.mean + self.dispersion * scores

    def as_dict(self) -> dict[str, float | str]:
        return {"mean": self.mean, "dispersion": self.dispersion, "window": self.window}

    @classmethod
    def from_dict(cls, values: dict | None) -> ReturnScale:
        """From a record's ``return_scale``; a record without one (raw-return models) is the identity."""
        if not values:
            return cls()
        return cls(float(values["mean"]), float(values["dispersion"]), str(values.get("window", "")))


def _recent_by_date(known_labels: pd.DataFrame, label: str, window_dates: int):
    recent_dates = np.sort(known_labels["date"].unique())[-window_dates:]
    return known_labels[known_labels["date"].isin(recent_dates)].groupby("date")[label], recent_dates


def return_scale(known_labels: pd.DataFrame, label: str, window_dates: int = 252) -> ReturnScale:
    """The scale measured on the last ``window_dates`` dates of ``known_labels`` (``date`` and the raw
    ``label``, every one already known); raises if they cannot give a finite, positive dispersion."""
    if known_labels.empty:
        raise ValueError(f"no known {label} labels to measure the score -> return scale on")
    by_date, dates = _recent_by_date(known_labels, label, window_dates)
    mean, dispersion = float(by_date.mean().mean()), float(by_date.std(ddof=0).mean())
    window = f"{pd.Timestamp(dates[0]).date()}..{pd.Timestamp(dates[-1]).date()}"
    if not (np.isfinite(mean) and np.isfinite(dispersion) and dispersion > 0):
        raise ValueError(
            f"{label} labels of {window} give no usable score -> return scale "
            f"(mean {mean}, dispersion {dispersion}): a date needs two or more names that differ"
        )
    return ReturnScale(mean, dispersion, window)


def destandardise(
    scores: pd.Series, known_labels: pd.DataFrame, label: str, window_dates: int = 252
) -> pd.Series:
    """Scores of a model trained on normalised labels -> expected raw returns for the optimiser.

    The model predicts a name's standardised return; the return is the day's typical cross-sectional
    mean plus the score times its typical dispersion, both averaged over the last ``window_dates`` dates
    of labels already known (``known_labels``: ``date`` and the raw ``label``). See :class:`ReturnScale`
    for the same conversion stored with a model."""
    by_date, _ = _recent_by_date(known_labels, label, window_dates)
    return by_date.mean().mean() + scores * by_date.std(ddof=0).mean()
