"""A server started without API keys and with the default (wall-clock) freshness reference.

Writes must be refused to everyone, and the bundled 2018 features must be flagged stale, never passed
off as current.
"""

import re

import httpx
import pytest


@pytest.fixture(scope="module")
def bare(start_server):
    with start_server("no-keys", {}) as server:
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
