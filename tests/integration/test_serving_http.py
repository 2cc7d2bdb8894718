"""Forecasts, models and operations endpoints of the champion's bento, served by a real `bentoml serve`."""

import re

import httpx
import pytest

from quant_assets.core.features import FEATURE_COLUMNS


def _latest_features(pipeline, symbol: str) -> list[float]:
    features = pipeline.value("technical_features")
    row = features[features["symbol"] == symbol].sort_values("date").iloc[-1]
    return [float(row[name]) for name in FEATURE_COLUMNS]


def test_predict_by_symbol_reads_the_online_store(api, pipeline):
    expected = pipeline.value("predictions").set_index("symbol").loc["AAPL"]
    response = httpx.post(f"{api.base}/api/predict", json={"symbol": "AAPL"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prediction"] == pytest.approx(expected["prediction"], abs=1e-6)
    assert body["confidence"] == pytest.approx(expected["confidence"])
    assert body["model_version"] == pipeline.value("champion_model")["version"]
    assert body["as_of"].startswith("2018-02-07")
    # Reference date 2018-02-09 (QUANT_AS_OF), window 4 days: two days old, fresh.
    assert (body["feature_age_days"], body["stale"], body["warnings"]) == (2, False, [])
    assert body["horizon_days"] == 5


def test_predict_with_explicit_features_matches_by_symbol(api, pipeline):
    values = _latest_features(pipeline, "ADBE")
    by_features = httpx.post(f"{api.base}/api/predict", json={"symbol": "ADBE", "features": values}).json()
    by_symbol = httpx.post(f"{api.base}/api/predict", json={"symbol": "adbe"}).json()
    assert by_symbol["symbol"] == "ADBE"
    assert by_features["prediction"] == pytest.approx(by_symbol["prediction"], abs=1e-7)
    assert by_features["as_of"] is None and by_features["stale"] is None


def test_null_features_are_missing_values_not_errors(api, pipeline):
    values = _latest_features(pipeline, "AAPL")
    values[FEATURE_COLUMNS.index("rsi_14")] = None
    response = httpx.post(f"{api.base}/api/predict", json={"symbol": "AAPL", "features": values})
    assert response.status_code == 200, response.text


def test_batch_form_answers_each_symbol_and_names_the_unknown(api, pipeline):
    singles = {
        s: httpx.post(f"{api.base}/api/predict", json={"symbol": s}).json()["prediction"]
        for s in ("AAPL", "AMZN", "ABT")
    }
    response = httpx.post(
        f"{api.base}/api/predict", json={"symbols": ["AAPL", "amzn", "ZZZZ", "ABT", "AAPL"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown_symbols"] == ["ZZZZ"]
    assert [p["symbol"] for p in body["predictions"]] == ["AAPL", "AMZN", "ABT"]
    for p in body["predictions"]:
        assert p["prediction"] == pytest.approx(singles[p["symbol"]], abs=1e-7)
        assert p["model_version"] == body["model_version"]
    none_known = httpx.post(f"{api.base}/api/predict", json={"symbols": ["ZZZZ", "YYYY"]})
    assert none_known.status_code == 404 and "ZZZZ" in none_known.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"symbol": "ZZZZ"}, 404, "ZZZZ"),
        ({"symbol": "AAPL", "features": [0.1, 0.2]}, 400, "expected 16 values"),
        ({"symbol": "AAPL", "features": [1e39] + [0.0] * 15}, 400, "float32 range"),
        ({"features": [0.1]}, 422, "body.symbol: Field required"),
        ({"symbl": "AAPL"}, 422, "body.symbl: Extra inputs are not permitted"),
        ({"symbol": "AA PL"}, 422, "body.symbol"),
        ({"symbol": " AAPL"}, 422, "body.symbol"),  # the documented pattern: no surrounding spaces
        ({"symbol": "AAPL", "features": ["0.1"] + [0.0] * 15}, 422, "body.features.0"),  # JSON numbers only
        ({"symbols": []}, 422, "body.symbols"),
        ([{"symbol": "AAPL"}], 422, "the body must be an object"),
    ],
)
def test_client_errors_say_what_to_fix(api, body, status, needle):
    response = httpx.post(f"{api.base}/api/predict", json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_non_finite_and_malformed_input_are_4xx_not_5xx(api):
    nan_body = '{"symbol": "AAPL", "features": [' + ", ".join(["Infinity"] * 16) + "]}"
    response = httpx.post(
        f"{api.base}/api/predict", content=nan_body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "ret_1d" in response.json()["error"]
    broken = httpx.post(
        f"{api.base}/api/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert "Traceback" not in broken.text


def test_model_endpoint_names_the_champion(api, pipeline):
    champion = pipeline.value("champion_model")["version"]
    current = httpx.get(f"{api.base}/api/model/current")
    assert current.status_code == 200, current.text
    body = current.json()
    assert body["model_id"] == "current"
    assert body["version"] == champion and body["status"] == "champion" and body["serving"] is True
    assert "champion" in body["aliases"]
    assert re.match(r"\d{4}-\d\d-\d\dT", body["last_updated"])
    assert body["metrics"] and all(isinstance(v, float) for v in body["metrics"].values())
    by_alias = httpx.get(f"{api.base}/api/model/champion").json()
    by_number = httpx.get(f"{api.base}/api/model/v{champion}").json()
    assert by_alias["version"] == by_number["version"] == champion
    missing = httpx.get(f"{api.base}/api/model/999")
    assert missing.status_code == 404 and "999" in missing.json()["error"]
    nonsense = httpx.get(f"{api.base}/api/model/latest-and-greatest")
    assert nonsense.status_code == 404 and "current" in nonsense.json()["error"]


def test_probes_and_openapi(api):
    assert httpx.get(f"{api.base}/livez").status_code == 200
    assert httpx.get(f"{api.base}/readyz").status_code == 200
    spec = httpx.get(f"{api.base}/docs.json").json()
    for path in (
        "/api/predict",
        "/api/data",
        "/api/portfolio/update",
        "/api/portfolio",
        "/api/model/{model_id}",
    ):
        assert path in spec["paths"], path


def test_metrics_count_requests_per_route_and_predictions_per_model(api, pipeline):
    version = pipeline.value("champion_model")["version"]
    httpx.post(f"{api.base}/api/predict", json={"symbol": "AAPL"})
    httpx.get(f"{api.base}/api/model/does-not-exist")
    text = httpx.get(f"{api.base}/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, f"{pattern} not in /metrics: " + "\n".join(
            line for line in text.splitlines() if line.startswith("quant_api_requests")
        )
        return float(match.group(1))

    assert value(r'quant_api_requests_total\{endpoint="/api/predict",method="POST",status="200"\}') >= 1
    # Route templates, not raw paths: unknown ids do not make new series.
    assert (
        value(r'quant_api_requests_total\{endpoint="/api/model/\{model_id\}",method="GET",status="404"\}')
        >= 1
    )
    assert value(r'quant_api_request_duration_seconds_count\{endpoint="/api/predict",method="POST"\}') >= 1
    assert value(rf'quant_predictions_total\{{model_version="{version}",source="online"\}}') >= 1
    assert value(rf'quant_feature_age_days_bucket\{{le="2.0",model_version="{version}"\}}') >= 1


def test_client_errors_leave_no_tracebacks_in_the_server_log(api):
    httpx.post(f"{api.base}/api/predict", json={"symbol": "ZZZZ"})
    httpx.post(f"{api.base}/api/predict", json={"nope": 1})
    log = api.log_text()
    assert "Traceback" not in log
    assert "[ERROR]" not in log
