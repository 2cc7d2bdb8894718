"""Bars -> the model's inputs: a feature set, optionally normalised per date, joined to its labels.

The exact-date join is the point-in-time join here: features at t are known at t's close and the label
at t starts at the next open (``core.labels``). The platform's assets make the same join through Feast.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant_assets.core.cross_section import normalise_labels, normalise_per_date
from quant_assets.core.feature_sets import build_feature_set, feature_set
from quant_assets.core.labels import forward_returns, label_column

LABEL_CHOICES = ("return", "rank", "zscore")  # raw forward return, or normalised per date


@dataclass(frozen=True)
class ModelInputs:
    features: pd.DataFrame  # symbol, date, *feature_names: every bar
    training_rows: pd.DataFrame  # the same joined to the raw label and its exit date (labelled bars only)
    feature_names: list[str]
    label: str

    def labelled(self, label_choice: str) -> pd.DataFrame:
        """Training rows with the chosen label: ``return`` as is, ``rank``/``zscore`` per date."""
        if label_choice not in LABEL_CHOICES:
            raise ValueError(f"label must be one of {LABEL_CHOICES}, got {label_choice!r}")
        if label_choice == "return":
            return self.training_rows
        return normalise_labels(self.training_rows, self.label, label_choice)


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
