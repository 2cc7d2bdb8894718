"""Confidence = a calibrated probability that a forecast's direction is right.

Fitted on out-of-fold (walk-forward) predictions only: the absolute predicted return is cut into
quantile bins; each bin's Laplace-smoothed hit rate is made monotone non-decreasing in |prediction|
(pool-adjacent-violators, i.e. isotonic regression over the bins), because a larger forecast should
never be trusted less. Quality is measured by the Brier score, cross-fitted by fold.

Which quantity: the expected return, against the realised raw return, for every label. A model that
learns a per-date rank or z-score predicts a score; its ``prediction`` is the score through its
``ReturnScale`` (``core.cross_section``), and that prediction is what confidence is fitted on (out of
fold, each fold's scores through that fold's scale) and applied to (``predictions`` asset, serving).
So confidence always answers "will the return have the sign of the forecast return", the number a
user reads next to ``prediction``. Fitting on the score (sign = above or below the day's median name)
and applying it to the return would answer a different question than the one shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DirectionCalibration:
    edges: tuple[float, ...]  # inner cut points on |prediction|, ascending; len = len(hit_rates) - 1
    hit_rates: tuple[float, ...]
    counts: tuple[int, ...]

    def as_dict(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "hit_rates": list(self.hit_rates), "counts": list(self.counts)}


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) fit of ``values``."""
    blocks = [[float(v), float(w), 1] for v, w in zip(values, weights, strict=True)]
    merged: list[list[float]] = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            v2, w2, n2 = merged.pop()
            v1, w1, n1 = merged.pop()
            total = w1 + w2
            merged.append([(v1 * w1 + v2 * w2) / total if total else (v1 + v2) / 2, total, n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in merged])


def fit_direction_calibration(
    predicted: np.ndarray, realised: np.ndarray, n_bins: int = 5
) -> DirectionCalibration:
    predicted = np.asarray(predicted, dtype=float)
    realised = np.asarray(realised, dtype=float)
    if len(predicted) < n_bins:
        raise ValueError(
            f"need at least {n_bins} out-of-sample predictions to calibrate, got {len(predicted)}"
        )
    magnitude = np.abs(predicted)
    edges = np.unique(np.quantile(magnitude, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, magnitude, side="right")
    hits = np.sign(predicted) == np.sign(realised)
    counts = np.bincount(bins, minlength=len(edges) + 1)
    hit_counts = np.bincount(bins, weights=hits.astype(float), minlength=len(edges) + 1)
    smoothed = (hit_counts + 1) / (counts + 2)
    return DirectionCalibration(
        edges=tuple(float(e) for e in edges),
        hit_rates=tuple(float(h) for h in _pool_adjacent_violators(smoothed, counts.astype(float))),
        counts=tuple(int(c) for c in counts),
    )


def direction_confidence(predicted: np.ndarray, calibration: DirectionCalibration) -> np.ndarray:
    """Probability that each forecast's direction is right, from its |prediction| bin."""
    bins = np.searchsorted(
        np.asarray(calibration.edges), np.abs(np.asarray(predicted, dtype=float)), side="right"
    )
    return np.asarray(calibration.hit_rates)[bins]


def brier_score(probability: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability, dtype=float) - np.asarray(outcome, dtype=float)) ** 2))


def cross_fitted_calibration_report(out_of_fold: pd.DataFrame, n_bins: int = 5) -> dict[str, object]:
    """Brier score and reliability table, each fold's confidence fitted on the other folds only.

    ``out_of_fold`` needs columns fold, predicted, realised. The reference Brier is that of always
    answering the overall hit rate (a calibrated but uninformative forecaster).
    """
    frame = out_of_fold[out_of_fold["realised"] != 0]
    hits = (np.sign(frame["predicted"]) == np.sign(frame["realised"])).astype(float).to_numpy()
    probability = np.full(len(frame), np.nan)
    folds = frame["fold"].to_numpy()
    for fold in np.unique(folds):
        others = frame[folds != fold]
        if len(others) < n_bins or len(np.unique(folds)) < 2:
            continue
        calibration = fit_direction_calibration(
            others["predicted"].to_numpy(), others["realised"].to_numpy(), n_bins
        )
        probability[folds == fold] = direction_confidence(
            frame.loc[folds == fold, "predicted"].to_numpy(), calibration
        )
    scored = ~np.isnan(probability)
    if not scored.any():
        return {"brier": float("nan"), "brier_reference": float("nan"), "reliability": []}
    table = (
        pd.DataFrame({"p": probability[scored], "hit": hits[scored]})
        .assign(bin=lambda d: pd.cut(d["p"], bins=np.linspace(0, 1, 11), include_lowest=True))
        .groupby("bin", observed=True)
        .agg(mean_confidence=("p", "mean"), hit_rate=("hit", "mean"), count=("hit", "size"))
        .reset_index()
    )
    table["bin"] = table["bin"].astype(str)
    base_rate = hits[scored].mean()
    return {
        "brier": brier_score(probability[scored], hits[scored]),
        "brier_reference": brier_score(np.full(scored.sum(), base_rate), hits[scored]),
        "reliability": table.to_dict(orient="records"),
    }
