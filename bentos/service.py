"""quant-assets HTTP API: return forecasts from the champion model.

``POST /api/predict`` takes ``{"symbol": "AAPL"}`` (features read from the Feast online store through
the same feature service used in training) or ``{"symbol": "AAPL", "features": [...]}`` (values in the
model's feature order) and answers ``{prediction, confidence, model_version, as_of}``.

This module never imports the training pipeline: everything it needs travels in the model's metadata
(feature names, feature service, calibration table, MLflow version).
"""

from __future__ import annotations

import math
import os
import string
from datetime import UTC, datetime
from pathlib import Path

import bentoml
import numpy as np
import xgboost as xgb
import yaml
from bentoml.exceptions import InvalidArgument, NotFound
from pydantic import BaseModel, Field

MODEL_TAG = os.environ.get("QUANT_MODEL_TAG", "quant-assets-xgb:latest")


def _feature_repo_dir() -> Path:
    """The Feast repo beside this file (in the project tree and inside a built bento alike)."""
    return Path(os.environ.get("QUANT_FEATURE_REPO", Path(__file__).resolve().parent.parent / "feature_repo"))


def open_feature_store():
    """Feast store configured from feature_store.yaml with ``${QUANT_HOME}`` filled in."""
    from feast import FeatureStore, RepoConfig

    quant_home = os.environ.get("QUANT_HOME", str(Path.cwd() / ".quant"))
    text = (_feature_repo_dir() / "feature_store.yaml").read_text()
    raw = yaml.safe_load(string.Template(text).safe_substitute(QUANT_HOME=quant_home))
    return FeatureStore(config=RepoConfig(repo_path=_feature_repo_dir(), **raw))


class PredictRequest(BaseModel):
    symbol: str = Field(min_length=1, max_length=16, description="Ticker symbol, e.g. AAPL")
    features: list[float] | None = Field(
        default=None,
        description="Optional feature values in the model's feature order; omit to use the online store",
    )


class Prediction(BaseModel):
    symbol: str
    prediction: float = Field(description="Expected simple return over the model's horizon")
    confidence: float = Field(description="Probability that the predicted direction is right")
    model_version: str
    as_of: str | None = Field(description="Event time of the features used (null for request features)")
    horizon_days: int


@bentoml.service(name="quant_forecaster", traffic={"timeout": 10})
class QuantForecaster:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        meta = self.model_ref.info.metadata
        self.booster: xgb.Booster = bentoml.xgboost.load_model(self.model_ref)
        self.feature_names: list[str] = list(meta["feature_names"])
        self.model_version = str(meta["model_version"])
        self.horizon_days = int(meta["horizon_days"])
        self.calibration_edges = np.asarray(meta["calibration"]["edges"], dtype=float)
        self.calibration_hit_rates = np.asarray(meta["calibration"]["hit_rates"], dtype=float)
        self.store = open_feature_store()
        self.feature_service = self.store.get_feature_service(meta["feature_service"])

    def _confidence(self, prediction: float) -> float:
        bin_index = np.searchsorted(self.calibration_edges, abs(prediction), side="right")
        return float(self.calibration_hit_rates[bin_index])

    def _online_features(self, symbol: str) -> tuple[list[float], str | None]:
        response = self.store.get_online_features(
            features=self.feature_service, entity_rows=[{"symbol": symbol}]
        )
        row = response.to_dict(include_event_timestamps=True)
        values = [row[name][0] for name in self.feature_names]
        if all(v is None for v in values):
            raise NotFound(
                f"no online features for symbol {symbol!r}; is it in the universe and materialised?"
            )
        stamps = [v[0] for k, v in row.items() if k.endswith("__ts") and v[0]]  # epoch seconds, 0 = none
        as_of = datetime.fromtimestamp(max(stamps), tz=UTC).isoformat() if stamps else None
        return [math.nan if v is None else float(v) for v in values], as_of

    @bentoml.api(route="/api/predict", input_spec=PredictRequest)
    def predict(self, symbol: str, features: list[float] | None = None) -> Prediction:
        symbol = symbol.strip().upper()
        if features is None:
            values, as_of = self._online_features(symbol)
        else:
            if len(features) != len(self.feature_names):
                raise InvalidArgument(
                    f"features: expected {len(self.feature_names)} values in this order: "
                    f"{', '.join(self.feature_names)}; got {len(features)}"
                )
            values, as_of = features, None
        matrix = xgb.DMatrix(np.asarray([values], dtype=np.float32), feature_names=None)
        prediction = float(self.booster.predict(matrix)[0])
        return Prediction(
            symbol=symbol,
            prediction=prediction,
            confidence=self._confidence(prediction),
            model_version=self.model_version,
            as_of=as_of,
            horizon_days=self.horizon_days,
        )
