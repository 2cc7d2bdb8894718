"""Per-date (cross-sectional) normalisation of features and labels, as Qlib's CSRankNorm / CSZScoreNorm.

A portfolio needs names ranked well against each other on the same day more than it needs each
return's level. Normalising per date removes what every name shares that day (the market's move).

Point in time: a feature row at t is normalised with the other names' features at t, all known at t's
close. A label at t is normalised with the other names' labels at t, so it is known only when the last
of them is: :func:`normalise_labels` moves each row's ``exit_date`` to the latest exit of its date, and
the splits' purge (exit < test start) keeps working.

- ``rank``: Qlib's CSRankNorm, ``(percentile rank - 0.5) * 3.46`` (about unit variance);
- ``zscore``: ``(x - mean) / std`` of the date (population std; a constant date gives 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.core.labels import EXIT_DATE

METHODS = ("rank", "zscore")
RANK_SCALE = 3.46  # Qlib's constant: sqrt(12) ~ 3.46 turns a uniform(0, 1) rank into unit variance


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


def destandardise(
    scores: pd.Series, known_labels: pd.DataFrame, label: str, window_dates: int = 252
) -> pd.Series:
    """Scores of a model trained on normalised labels -> expected raw returns for the optimiser.

    The model predicts a name's standardised return; the return is the day's typical cross-sectional
    mean plus the score times its typical dispersion, both averaged over the last ``window_dates`` dates
    of labels already known (``known_labels``: ``date`` and the raw ``label``)."""
    recent_dates = np.sort(known_labels["date"].unique())[-window_dates:]
    recent = known_labels[known_labels["date"].isin(recent_dates)]
    by_date = recent.groupby("date")[label]
    return by_date.mean().mean() + scores * by_date.std(ddof=0).mean()
