"""Shared fixtures: one real run of the whole graph on a slice of the bundled data, reused by many tests."""

import os
from dataclasses import dataclass

import httpx
import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult
from fixture_paths import SMALL_UNIVERSE_LIMITS
from moto.server import ThreadedMotoServer

from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.definitions import build_definitions
from quant_assets.settings import BUNDLED_DATA_DIR, Settings

# Tests own their state: never write into the developer's .quant or a configured MLflow server.
for _var in ("QUANT_HOME", "MLFLOW_TRACKING_URI", "BENTOML_HOME", "DAGSTER_HOME", "QUANT_SYMBOLS"):
    os.environ.pop(_var, None)
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ["MLFLOW_ENABLE_TELEMETRY"] = "false"

# Four full histories plus BHF: 143 days and one real row with missing prices.
TEST_SYMBOLS = ("AAPL", "AMZN", "ABT", "ADBE", "BHF")
# The last half year of the data, three models: the whole asset path, in seconds.
SHORT_BACKTEST = {"span_days": 126, "retrain_days": 42}


@dataclass
class PipelineRun:
    settings: Settings
    defs: Definitions
    instance: DagsterInstance
    result: ExecuteInProcessResult

    def value(self, key: str):
        """Any asset's value; a symbol-partitioned one as the long frame of all the run's symbols."""
        return self.result.asset_value(key)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRun:
    home = tmp_path_factory.mktemp("quant_home")
    settings = Settings(
        home=home, data_dir=BUNDLED_DATA_DIR, symbols=TEST_SYMBOLS, horizon_days=5, max_weight=0.5,
        risk_limits_file=SMALL_UNIVERSE_LIMITS,
    )
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    symbols = add_symbols(instance, TEST_SYMBOLS)
    result = defs.resolve_job_def("everything_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags=range_tags(symbols[0], symbols[-1]),
        run_config={"ops": {"backtest": {"config": SHORT_BACKTEST}}},
    )
    failures = [e.message for e in result.all_events if e.is_step_failure]
    assert result.success, f"pipeline failed: {failures}"
    return PipelineRun(settings, defs, instance, result)


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on loopback, started here and stopped by its own handle.

    moto keeps its buckets in process-wide state, so each test starts and ends with it reset."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
        yield endpoint
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
    finally:
        server.stop()
