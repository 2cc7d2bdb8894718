"""The champion's bento served by a real `bentoml serve` process on loopback."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from quant_assets.core.features import FEATURE_COLUMNS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(pipeline):
    port = _free_port()
    env = {
        **os.environ,
        "QUANT_HOME": str(pipeline.settings.home),
        "BENTOML_HOME": str(pipeline.settings.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    bentoml_cli = Path(sys.executable).parent / "bentoml"
    log = open(pipeline.settings.home / "bentoml-serve.log", "wb")
    proc = subprocess.Popen(
        [str(bentoml_cli), "serve", "quant_forecaster:latest", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    "bentoml serve exited: "
                    + (pipeline.settings.home / "bentoml-serve.log").read_text()[-3000:]
                )
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("bentoml serve not ready after 90 s")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers, by our own process id
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_predict_by_symbol_reads_the_online_store(server, pipeline):
    expected = pipeline.value("predictions").set_index("symbol").loc["AAPL"]
    response = httpx.post(f"{server}/api/predict", json={"symbol": "AAPL"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prediction"] == pytest.approx(expected["prediction"], abs=1e-6)
    assert body["confidence"] == pytest.approx(expected["confidence"])
    assert body["model_version"] == pipeline.value("champion_model")["version"]
    assert body["as_of"].startswith("2018-02-07")


def test_predict_with_explicit_features_matches_by_symbol(server, pipeline):
    features = pipeline.value("technical_features")
    row = features[features["symbol"] == "ADBE"].sort_values("date").iloc[-1]
    values = [float(row[name]) for name in FEATURE_COLUMNS]
    by_features = httpx.post(f"{server}/api/predict", json={"symbol": "ADBE", "features": values}).json()
    by_symbol = httpx.post(f"{server}/api/predict", json={"symbol": "adbe"}).json()
    assert by_features["prediction"] == pytest.approx(by_symbol["prediction"], abs=1e-7)
    assert by_features["as_of"] is None


def test_unknown_symbol_is_404_and_bad_features_400(server):
    unknown = httpx.post(f"{server}/api/predict", json={"symbol": "ZZZZ"})
    assert unknown.status_code == 404
    assert "ZZZZ" in unknown.text
    short = httpx.post(f"{server}/api/predict", json={"symbol": "AAPL", "features": [0.1, 0.2]})
    assert short.status_code == 400
    assert "expected 16 values" in short.text
    missing = httpx.post(f"{server}/api/predict", json={"features": [0.1]})
    assert missing.status_code in (400, 422)
