"""Confidence = how often the predicted direction was right, for forecasts of similar size.

Fitted on hold-out predictions only: the absolute predicted return is cut into quantile bins, and each
bin's hit rate (Laplace-smoothed) is the probability that the sign of a new forecast in it is right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DirectionCalibration:
    edges: tuple[float, ...]  # inner cut points on |prediction|, ascending; len = len(hit_rates) - 1
    hit_rates: tuple[float, ...]
    counts: tuple[int, ...]

    def as_dict(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "hit_rates": list(self.hit_rates), "counts": list(self.counts)}


def fit_direction_calibration(
    predicted: np.ndarray, realised: np.ndarray, n_bins: int = 5
) -> DirectionCalibration:
    predicted = np.asarray(predicted, dtype=float)
    realised = np.asarray(realised, dtype=float)
    if len(predicted) < n_bins:
        raise ValueError(f"need at least {n_bins} hold-out predictions to calibrate, got {len(predicted)}")
    magnitude = np.abs(predicted)
    edges = np.unique(np.quantile(magnitude, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, magnitude, side="right")
    hits = np.sign(predicted) == np.sign(realised)
    counts = np.bincount(bins, minlength=len(edges) + 1)
    hit_counts = np.bincount(bins, weights=hits.astype(float), minlength=len(edges) + 1)
    hit_rates = (hit_counts + 1) / (counts + 2)
    return DirectionCalibration(
        edges=tuple(float(e) for e in edges),
        hit_rates=tuple(float(h) for h in hit_rates),
        counts=tuple(int(c) for c in counts),
    )


def direction_confidence(predicted: np.ndarray, calibration: DirectionCalibration) -> np.ndarray:
    """Probability that each forecast's direction is right, from its |prediction| bin."""
    bins = np.searchsorted(
        np.asarray(calibration.edges), np.abs(np.asarray(predicted, dtype=float)), side="right"
    )
    return np.asarray(calibration.hit_rates)[bins]
