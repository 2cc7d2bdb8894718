"""The single Definitions object of the code location (``workspace.yaml`` points here)."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from quant_assets.assets import (
    backtest,
    feature_store,
    features,
    ingestion,
    monitoring,
    portfolio,
    registry,
    risk,
    serving,
    trading,
    training,
)
from quant_assets.automation.alert_sensors import ALERT_SENSORS
from quant_assets.automation.eager import automation_sensor
from quant_assets.automation.jobs import (
    backtest_job,
    everything_job,
    ingestion_job,
    retrain_job,
    trading_cycle_job,
)
from quant_assets.automation.schedules import ingestion_schedule, weekly_retrain_schedule
from quant_assets.automation.sensors import drift_sensor
from quant_assets.automation.symbol_sensors import landing_zone_sensor, universe_sensor
from quant_assets.automation.trading_sensors import trading_cycle_sensor
from quant_assets.resources.alerts import AlertsResource
from quant_assets.resources.bento_builder import BentoBuilder
from quant_assets.resources.feast_store import FeastResource
from quant_assets.resources.lake import LakeIOManager
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.resources.mlflow_tracking import mlflow_tracking_resource
from quant_assets.resources.model_registry import ModelRegistry
from quant_assets.resources.platform import PlatformConfig
from quant_assets.resources.trading import TradingResource
from quant_assets.settings import BENTO_DIR, FEATURE_REPO_DIR, MODEL_NAME, SPY_FILE, Settings, load_settings

ASSET_MODULES = (
    ingestion, features, feature_store, training, registry, serving, portfolio, risk, backtest, monitoring,
    trading,
)  # fmt: skip
ASSET_CHECKS = (
    ingestion.validated_bars_schema,
    ingestion.validated_bars_cover_universe,
    trading.ledger_matches_broker,
    *trading.LIMIT_CHECKS,
)
# Readers skip partitions these rejected, also in runs that do not include the checks themselves.
BLOCKING_CHECKS: dict[str, list[str]] = {}
for _checks in ASSET_CHECKS:
    for _spec in _checks.check_specs:
        if _spec.blocking:
            BLOCKING_CHECKS.setdefault(_spec.asset_key.to_user_string(), []).append(_spec.name)


def build_resources(settings: Settings) -> dict[str, object]:
    """Every resource, configured from resolved settings (so tests can point them at a temp dir)."""
    return {
        "io_manager": LakeIOManager(base_dir=str(settings.lake_dir), blocking_checks=BLOCKING_CHECKS),
        "platform": PlatformConfig(
            data_dir=str(settings.data_dir),
            symbols=list(settings.symbols),
            symbol_sources=dict(settings.universe),
            universe_file=str(settings.universe_file) if settings.universe_file else None,
            horizon_days=settings.horizon_days,
            max_weight=settings.max_weight,
            benchmark_file=str(SPY_FILE),
            feature_set=settings.feature_set,
            label=settings.label,
        ),
        "landing": LandingZoneResource(
            uri=settings.landing_zone,
            s3_endpoint_url=settings.s3_endpoint_url,
            parse_cache_dir=str(settings.home / "cache" / "landing"),
        ),
        "feast": FeastResource(
            repo_dir=str(FEATURE_REPO_DIR), quant_home=str(settings.home), feature_set=settings.feature_set
        ),
        "mlflow": mlflow_tracking_resource.configured(
            {
                "experiment_name": "quant-assets",
                "mlflow_tracking_uri": settings.mlflow_tracking_uri,
                "artifact_location": settings.mlflow_artifact_root,
            }
        ),
        "registry": ModelRegistry(tracking_uri=settings.mlflow_tracking_uri, model_name=MODEL_NAME),
        "bentos": BentoBuilder(bentoml_home=str(settings.bentoml_home), bento_dir=str(BENTO_DIR)),
        "trading": TradingResource(
            broker=settings.broker,
            ledger_url=settings.ledger_database_url,
            risk_limits_file=str(settings.risk_limits_file),
            state_dir=str(settings.home / "trading"),
            environment={k: v for k, v in settings.environment.items() if k.startswith("APCA_")},
        ),
        "alerts": AlertsResource.from_environment(
            settings.environment, settings.home / "alerts" / "alerts.db"
        ),
    }


def build_definitions(settings: Settings, loggers: dict | None = None) -> Definitions:
    settings.ensure_home()
    return Definitions(
        loggers=loggers,
        assets=load_assets_from_modules(ASSET_MODULES),
        asset_checks=list(ASSET_CHECKS),
        jobs=[ingestion_job, retrain_job, backtest_job, trading_cycle_job, everything_job],
        schedules=[ingestion_schedule, weekly_retrain_schedule],
        sensors=[
            drift_sensor, universe_sensor, landing_zone_sensor, automation_sensor, trading_cycle_sensor,
            *ALERT_SENSORS,
        ],  # fmt: skip
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
