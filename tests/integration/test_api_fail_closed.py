"""A server started without API keys, with the default (wall-clock) freshness reference and with an
MLflow registry it cannot reach.

Writes must be refused to everyone, the bundled 2018 features must be flagged stale, never passed off
as current, and model lookups must say the registry is unavailable (503), not that the model is unknown.
"""

import re

import httpx
import pytest


@pytest.fixture(scope="module")
def bare(start_server):
    unreachable = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # nothing listens on the discard port
    with start_server("no-keys", unreachable) as server:
        yield server


@pytest.mark.parametrize("key", [None, "anything"])
def test_without_configured_keys_every_write_is_refused(bare, key):
    headers = {"X-API-Key": key} if key else {}
    bar = {
        "symbol": "AAPL",
        "date": "2018-02-08",
        "open": 1,
        "high": 2,
        "low": 0.5,
        "close": 1.5,
        "volume": 1,
    }
    for path, body in (("/api/data", bar), ("/api/portfolio/update", {"weights": {"AAPL": 1.0}})):
        response = httpx.post(f"{bare.base}{path}", json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert "no API keys are configured" in response.json()["error"]
    assert "QUANT_API_KEYS is not set" in bare.log_text()


def test_old_features_are_flagged_stale_against_the_wall_clock(bare):
    body = httpx.post(f"{bare.base}/api/predict", json={"symbol": "AAPL"}).json()
    assert body["stale"] is True
    assert body["feature_age_days"] > 365 * 5
    assert "2018-02-07" in body["warnings"][0] and "freshness window 4 days" in body["warnings"][0]
    batch = httpx.post(f"{bare.base}/api/predict", json={"symbols": ["AAPL", "ADBE"]}).json()
    assert all(p["stale"] for p in batch["predictions"])
    metrics = httpx.get(f"{bare.base}/metrics").text
    stale = re.search(r'quant_stale_predictions_total\{model_version="[^"]+"\} ([0-9.]+)', metrics)
    assert stale and float(stale.group(1)) >= 3


@pytest.mark.parametrize("model_id", ["champion", "3", "current"])
def test_an_unreachable_registry_is_a_503_not_an_unknown_model(bare, model_id):
    response = httpx.get(f"{bare.base}/api/model/{model_id}", timeout=30)
    assert response.status_code == 503, response.text
    assert "registry could not be read" in response.json()["error"]
