"""Bars -> the model's inputs: a feature set, optionally normalised per date, joined to its labels.

The exact-date join is the point-in-time join here: features at t are known at t's close and the label
at t starts at the next open (``core.labels``). The platform's assets make the same join through Feast.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant_assets.core.cross_section import ReturnScale, normalise_labels, normalise_per_date, return_scale
from quant_assets.core.feature_sets import build_feature_set, feature_set
from quant_assets.core.labels import EXIT_DATE, forward_returns, label_column

LABEL_CHOICES = ("return", "rank", "zscore")  # raw forward return, or normalised per date
SCALE_WINDOW_DATES = 252  # about a year of dates behind a score -> return scale


def _check_choice(label_choice: str) -> None:
    if label_choice not in LABEL_CHOICES:
        raise ValueError(f"label must be one of {LABEL_CHOICES}, got {label_choice!r}")


def learning_rows(rows: pd.DataFrame, label: str, label_choice: str) -> pd.DataFrame:
    """``rows`` with the label a model learns: ``return`` as is; ``rank``/``zscore`` normalised per date,
    each row's exit date moved to the latest of its date (a per-date label is known only when all its
    names are), so purges on ``exit_date`` stay point in time. Same index and order as ``rows``."""
    _check_choice(label_choice)
    if label_choice == "return":
        return rows
    if EXIT_DATE not in rows.columns:
        raise ValueError(f"a {label_choice} label needs each row's {EXIT_DATE} to stay point in time")
    return normalise_labels(rows, label, label_choice)


def fit_return_scale(
    known_rows: pd.DataFrame, label: str, label_choice: str, window_dates: int = SCALE_WINDOW_DATES
) -> ReturnScale:
    """How a model's scores become expected returns: the identity for ``return``; otherwise the raw
    ``label``'s per-date mean and dispersion over the newest ``window_dates`` dates of ``known_rows``
    (the rows the model was trained on: every label in them was known when it was trained)."""
    _check_choice(label_choice)
    if label_choice == "return":
        return ReturnScale()
    return return_scale(known_rows, label, window_dates)


@dataclass(frozen=True)
class ModelInputs:
    features: pd.DataFrame  # symbol, date, *feature_names: every bar
    training_rows: pd.DataFrame  # the same joined to the raw label and its exit date (labelled bars only)
    feature_names: list[str]
    label: str

    def labelled(self, label_choice: str) -> pd.DataFrame:
        """Training rows with the chosen label: ``return`` as is, ``rank``/``zscore`` per date."""
        return learning_rows(self.training_rows, self.label, label_choice)


def model_inputs(
    valid_bars: pd.DataFrame,
    horizon: int,
    feature_set_name: str = "technical_v1",
    feature_transform: str | None = None,
) -> ModelInputs:
    names = list(feature_set(feature_set_name).columns)
    features = build_feature_set(feature_set_name, valid_bars)
    if feature_transform:
        features = normalise_per_date(features, names, feature_transform)
    rows = features.merge(forward_returns(valid_bars, horizon), on=["symbol", "date"], how="inner")
    rows = rows.sort_values(["date", "symbol"]).reset_index(drop=True)
    return ModelInputs(features, rows, names, label_column(horizon))
