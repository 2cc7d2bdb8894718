"""Has the champion's error on recent data drifted away from what it showed at validation?

Rule from the design documents: retrain when the realised RMSE on recent labelled data exceeds the
validation RMSE by more than ``tolerance`` (10 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ErrorDrift:
    realised_rmse: float
    reference_rmse: float
    ratio: float
    tolerance: float
    n_observations: int
    degraded: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def assess_error_drift(
    realised: np.ndarray,
    predicted: np.ndarray,
    *,
    reference_rmse: float,
    tolerance: float = 0.10,
    min_observations: int = 20,
) -> ErrorDrift:
    """Compare recent RMSE to the reference; too few observations never count as drift."""
    if reference_rmse <= 0 or not np.isfinite(reference_rmse):
        raise ValueError(f"reference_rmse must be a positive finite number, got {reference_rmse}")
    realised = np.asarray(realised, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    rmse = float(np.sqrt(np.mean((predicted - realised) ** 2))) if len(realised) else float("nan")
    ratio = rmse / reference_rmse
    return ErrorDrift(
        realised_rmse=rmse,
        reference_rmse=float(reference_rmse),
        ratio=float(ratio),
        tolerance=tolerance,
        n_observations=int(len(realised)),
        degraded=bool(len(realised) >= min_observations and ratio > 1 + tolerance),
    )
