"""Real ``bentoml serve`` processes of the pipeline's bento on loopback, one per configuration.

Each server gets its own process group, so stopping it (by our own process id) also stops its workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def bentoml_server(pipeline, name: str, extra_env: dict[str, str]) -> Iterator[Server]:
    """Start ``bentoml serve quant_forecaster:latest`` and wait for /readyz; always stop it."""
    port = _free_port()
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
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "True",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        **extra_env,
    }
    bentoml_cli = Path(sys.executable).parent / "bentoml"
    log_path = pipeline.settings.home / f"bentoml-serve-{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(bentoml_cli),
                "serve",
                "quant_forecaster:latest",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own: killpg reaches the workers too
            cwd=pipeline.settings.home,
        )
    server = Server(f"http://127.0.0.1:{port}", log_path, proc.pid)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited: {server.log_text()[-3000:]}")
            try:
                if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"bentoml serve not ready after 90 s: {server.log_text()[-3000:]}")
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


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
