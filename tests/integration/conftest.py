"""Real ``bentoml serve`` processes of the pipeline's bento on loopback, one per configuration.

Each server gets its own process group, so stopping it (by our own process id) also stops its workers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from quant_assets.local_server import free_port, local_server

API_KEYS = ("test-key-1-9f2c", "test-key-2-77ab")
# Bundled data ends 2018-02-07 (a Wednesday); two days later its features are fresh.
FIXED_AS_OF = "2018-02-09"


@dataclass
class Server:
    base: str
    log: Path
    pid: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def bentoml_server(pipeline, name: str, extra_env: dict[str, str]) -> Iterator[Server]:
    """Start ``bentoml serve quant_forecaster:latest`` and wait for /readyz; always stop it."""
    port = free_port()
    # A BENTOML_HOME per server (links to the pipeline's model and bento stores): `bentoml serve` empties
    # $BENTOML_HOME/prometheus_multiproc_dir when it starts, wiping the metrics of any other server on it.
    bentoml_home = pipeline.settings.home / f"bentoml-{name}"
    bentoml_home.mkdir(exist_ok=True)
    for store in ("bentos", "models"):
        link = bentoml_home / store
        if not link.exists():
            link.symlink_to(pipeline.settings.bentoml_home / store, target_is_directory=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUANT_")},
        "QUANT_HOME": str(pipeline.settings.home),
        # explicit: mlflow.set_tracking_uri writes this variable, so the test process holds whichever
        # platform set it last
        "MLFLOW_TRACKING_URI": pipeline.settings.mlflow_tracking_uri,
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "True",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        # the limits the pipeline's trading cycle ran with: posted weights are judged by the same ones
        "QUANT_RISK_LIMITS": str(pipeline.settings.risk_limits_file),
        **extra_env,
    }
    bentoml_cli = Path(sys.executable).parent / "bentoml"
    log_path = pipeline.settings.home / f"bentoml-serve-{name}.log"
    base = f"http://127.0.0.1:{port}"
    cmd = [str(bentoml_cli), "serve", "quant_forecaster:latest", "--host", "127.0.0.1", "--port", str(port)]
    with local_server(
        cmd, env=env, cwd=pipeline.settings.home, log_path=log_path, ready_url=f"{base}/readyz"
    ) as proc:
        yield Server(base, log_path, proc.pid)


@pytest.fixture(scope="session")
def api(pipeline) -> Iterator[Server]:
    """The server most tests share: keys configured, freshness measured against FIXED_AS_OF."""
    env = {
        "QUANT_API_KEYS": ",".join(API_KEYS),
        "QUANT_MAX_WEIGHT": "0.5",
        "QUANT_AS_OF": FIXED_AS_OF,
        "QUANT_FEATURE_MAX_AGE_DAYS": "4",
    }
    with bentoml_server(pipeline, "main", env) as server:
        yield server


@pytest.fixture
def api_keys() -> tuple[str, ...]:
    return API_KEYS


@pytest.fixture
def write_headers() -> dict[str, str]:
    return {"X-API-Key": API_KEYS[1]}


@pytest.fixture(scope="session")
def start_server(pipeline):
    """``with start_server(name, env) as server:`` for a server with another configuration."""
    return lambda name, env: bentoml_server(pipeline, name, env)
