"""quant-assets HTTP API: the champion's forecasts, bars into the landing zone, portfolio targets, models,
and the trading cycle's risk report, positions and orders.

One BentoML service. It loads the champion's booster natively (not through MLflow pyfunc) and opens the
Feast online store once per worker; the routes are a FastAPI app mounted on it (``routes.py``), which
gives one error format, accurate OpenAPI for every route (merged with BentoML's probes into
``/docs.json``, see ``openapi_document.py``) and no BentoML traceback logging of client errors.
BentoML serves ``/livez``, ``/readyz`` (ready only when the model is loaded and the online store
answers) and ``/metrics`` (its own plus ``quant_*`` metrics); errors from its layer are made JSON too
(``json_errors.py``).

This module never imports the training pipeline: what it needs travels in the model's metadata, and the
only shared code is the pure core (``quant_assets.core``), packaged into the bento.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bentoml

from bentos.api_models import SERVING
from bentos.forecaster import Forecaster, open_feature_store
from bentos.freshness import FeatureClock
from bentos.json_errors import JsonErrors
from bentos.landing import open_landing_zone
from bentos.observability import ApiMetrics
from bentos.openapi_document import ServeDocument, finish
from bentos.portfolios import PortfolioStore
from bentos.registry import ModelRegistryView, default_tracking_uri
from bentos.routes import Backend, build_app
from bentos.security import ApiKeys
from quant_assets.core.limits import RiskLimitsError, load_risk_limits

# The repository, or the bento's src folder once packaged: the default risk_limits.yaml travels with it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_TAG = os.environ.get("QUANT_MODEL_TAG", "quant-assets-xgb:latest")
WORKERS = int(os.environ.get("QUANT_SERVE_WORKERS", "1"))
# BentoML's line per request costs ~25 % of throughput at concurrency 1 (benchmarks/serving.py), so it is
# off by default: /metrics counts every request and writes log their own line. QUANT_ACCESS_LOG=true.
ACCESS_LOG = os.environ.get("QUANT_ACCESS_LOG", "false").strip().lower() in ("1", "true", "yes", "on")
logger = logging.getLogger("quant_forecaster")

app = build_app()


def _path_env(env: dict[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def _float_env(name: str, default: float, low: float, high: float) -> float:
    value = float(os.environ.get(name, default))
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


@bentoml.asgi_app(app, path="/")
@bentoml.service(
    name="quant_forecaster",
    workers=WORKERS,
    traffic={"timeout": 10},
    logging={"access": {"enabled": ACCESS_LOG}},
)
class QuantForecaster:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        # A registry that does not answer must fail a /api/model request in seconds, not after MLflow's
        # default minutes of retries; an explicit setting wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        env = dict(os.environ)
        quant_home = Path(env.get("QUANT_HOME", Path.cwd() / ".quant")).expanduser().resolve()
        booster = bentoml.xgboost.load_model(self.model_ref)
        self.forecaster = Forecaster(
            booster,
            dict(self.model_ref.info.metadata),
            open_feature_store(quant_home),
            predict_threads=int(_float_env("QUANT_PREDICT_THREADS", 1, 1, 256)),
        )
        max_weight = _float_env("QUANT_MAX_WEIGHT", 0.10, 1e-9, 1.0)
        # From now on the OpenAPI document states this model's feature count and this server's cap.
        SERVING.feature_count = len(self.forecaster.feature_names)
        SERVING.max_weight = max_weight
        keys = ApiKeys.from_env(env.get("QUANT_API_KEYS"))
        if not keys.configured:
            logger.warning("QUANT_API_KEYS is not set: write endpoints will refuse every request (403)")
        # Where the trading cycle keeps its state, as quant_assets.settings defines it (lake_dir,
        # ledger_database_url, risk_limits_file, TradingResource.risk_inputs_path).
        trading_dir = quant_home / "trading"
        risk_limits_file = _path_env(env, "QUANT_RISK_LIMITS", PROJECT_ROOT / "risk_limits.yaml")
        try:
            load_risk_limits(risk_limits_file)
        except RiskLimitsError as exc:
            logger.warning("%s: portfolio updates will be refused (503) until it can be read", exc)
        app.state.backend = Backend(
            forecaster=self.forecaster,
            clock=FeatureClock.from_env(env, self.forecaster.materialized_until),
            keys=keys,
            portfolios=PortfolioStore(quant_home / "portfolio"),
            landing=open_landing_zone(env, quant_home),
            registry=ModelRegistryView(default_tracking_uri(env, quant_home)),
            metrics=ApiMetrics.create(),
            max_weight=max_weight,
            weight_tolerance=_float_env("QUANT_WEIGHT_SUM_TOLERANCE", 1e-4, 0.0, 0.1),
            lake_dir=quant_home / "lake",
            ledger_url=env.get("QUANT_LEDGER_URL", "").strip() or f"sqlite:///{trading_dir / 'ledger.db'}",
            risk_limits_file=risk_limits_file,
            risk_inputs_file=trading_dir / "risk_inputs.json",
        )
        self.forecaster.probe()
        app.state.backend.registry.warm()
        logger.info(
            "serving model version %s (%s); features from service %s",
            self.forecaster.model_version,
            self.model_ref.tag,
            self.forecaster.feature_service.name,
        )

    async def __is_ready__(self) -> bool:
        """Ready when the model is loaded and the online store answers a read (on the event loop, like
        every Feast call here, so its SQLite connection stays on one thread)."""
        try:
            self.forecaster.probe()
        except Exception:
            logger.warning("readiness: the Feast online store did not answer", exc_info=True)
            return False
        return True


# Outside the routes: errors from BentoML's own layer become JSON too, and /docs.json is the finished
# document (BentoML's merge of its probes and the API's operations, labelled OpenAPI 3.1).
QuantForecaster.add_asgi_middleware(JsonErrors)
QuantForecaster.add_asgi_middleware(
    ServeDocument, document=lambda: finish(QuantForecaster.openapi_spec.asdict())
)
