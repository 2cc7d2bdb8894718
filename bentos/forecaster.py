"""The champion booster with its online feature lookup: symbols or feature rows in, forecasts out.

Free of HTTP and of the training pipeline: everything it needs travels in the model's metadata (feature
names and order, feature service, calibration, the label and its score -> return scale, MLflow version).
Confidence and the scale come from the shared core, so serving and the ``predictions`` asset give the
same numbers: a prediction is an expected return over the horizon whatever label the model learns.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb
import yaml

from quant_assets.core.confidence import DirectionCalibration, direction_confidence
from quant_assets.core.cross_section import ReturnScale


def feature_repo_dir() -> Path:
    """The Feast repo beside this package (in the project tree and inside a built bento alike)."""
    return Path(os.environ.get("QUANT_FEATURE_REPO", Path(__file__).resolve().parent.parent / "feature_repo"))


def open_feature_store(quant_home: Path):
    """Feast store configured from feature_store.yaml with ``${QUANT_HOME}`` filled in."""
    from feast import FeatureStore, RepoConfig

    repo = feature_repo_dir()
    text = (repo / "feature_store.yaml").read_text()
    raw = yaml.safe_load(string.Template(text).safe_substitute(QUANT_HOME=str(quant_home)))
    return FeatureStore(config=RepoConfig(repo_path=repo, **raw))


@dataclass(frozen=True)
class OnlineFeatures:
    values: list[float]  # in the model's feature order; NaN = missing
    event_time: dt.datetime | None  # UTC


class Forecaster:
    def __init__(self, booster: xgb.Booster, metadata: dict, store, predict_threads: int = 1) -> None:
        self.booster = booster
        # One thread per prediction: requests are one or a few rows, the event loop is single-threaded and
        # workers scale across cores; on 2 cores this halved p99 at concurrency 1 (benchmarks/serving.py).
        self.booster.set_param({"nthread": predict_threads})
        self.feature_names: list[str] = list(metadata["feature_names"])
        self.model_version = str(metadata["model_version"])
        self.horizon_days = int(metadata["horizon_days"])
        # What the booster learns; models packaged before labels were configurable learn the raw return.
        self.label = str(metadata.get("label", "return"))
        self.return_scale = ReturnScale.from_dict(metadata.get("return_scale"))
        calibration = metadata["calibration"]
        self.calibration = DirectionCalibration(
            edges=tuple(calibration["edges"]),
            hit_rates=tuple(calibration["hit_rates"]),
            counts=tuple(calibration.get("counts", ())),
        )
        self.store = store
        self.feature_service = store.get_feature_service(metadata["feature_service"])
        self.feature_view_names = [p.name for p in self.feature_service.feature_view_projections]

    def online_features(self, symbols: list[str]) -> dict[str, OnlineFeatures]:
        """Newest features per symbol from the online store; symbols it knows nothing of are left out."""
        response = self.store.get_online_features(
            features=self.feature_service, entity_rows=[{"symbol": s} for s in symbols]
        )
        columns = response.to_dict(include_event_timestamps=True)
        stamp_columns = [v for k, v in columns.items() if k.endswith("__ts")]
        found: dict[str, OnlineFeatures] = {}
        for i, symbol in enumerate(symbols):
            values = [columns[name][i] for name in self.feature_names]
            if all(v is None for v in values):
                continue
            stamps = [s[i] for s in stamp_columns if s[i]]  # epoch seconds; 0 or None = no value
            event_time = dt.datetime.fromtimestamp(max(stamps), tz=dt.UTC) if stamps else None
            found[symbol] = OnlineFeatures([math.nan if v is None else float(v) for v in values], event_time)
        return found

    def scores(self, rows: list[list[float]]) -> np.ndarray:
        """The booster's own output per feature row: a return, or a per-date rank / z-score."""
        # inplace_predict skips building a DMatrix: the same numbers (tested), a fraction of the cost.
        return self.booster.inplace_predict(np.asarray(rows, dtype=np.float32)).astype(float)

    def predict(self, rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
        """``(expected return over horizon_days, direction confidence)`` per feature row; the confidence
        is calibrated on, and applied to, the expected return."""
        predictions = self.return_scale.to_returns(self.scores(rows))
        return predictions, direction_confidence(predictions, self.calibration)

    def materialized_until(self) -> dt.datetime | None:
        """End of the newest materialisation into the online store, from the Feast registry."""
        ends = [
            end
            for name in self.feature_view_names
            for _, end in self.store.get_feature_view(name).materialization_intervals
        ]
        return max(ends).astimezone(dt.UTC) if ends else None

    def probe(self) -> None:
        """Raises unless the online store answers a read (used by readiness)."""
        self.store.get_online_features(features=self.feature_service, entity_rows=[{"symbol": "__probe__"}])
