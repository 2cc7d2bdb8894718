"""Write endpoints over HTTP: bars into the landing zone, portfolio versions, and their API keys."""

import json

import httpx
import pandas as pd
import pytest

from quant_assets.sources.layouts import read_bar_file

# low <= min(open, close) <= max(open, close) <= high
GOOD_BAR = {
    "symbol": "AAPL",
    "date": "2018-02-08",
    "open": 160.0,
    "high": 163.9,
    "low": 156.0,
    "close": 157.5,
}
GOOD_BAR["volume"] = 1.0


def _landing_files(pipeline) -> set:
    folder = pipeline.settings.home / "landing" / "api"
    return set(folder.glob("*")) if folder.exists() else set()


@pytest.mark.parametrize("path", ["/api/data", "/api/portfolio/update"])
def test_writes_need_a_valid_key(api, api_keys, path):
    body = GOOD_BAR if path == "/api/data" else {"weights": {"AAPL": 0.5, "ADBE": 0.5}}
    missing = httpx.post(f"{api.base}{path}", json=body)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["error"]
    wrong = httpx.post(f"{api.base}{path}", json=body, headers={"X-API-Key": api_keys[0] + "x"})
    assert wrong.status_code == 403
    non_ascii = httpx.post(f"{api.base}{path}", json=body, headers={"X-API-Key": "clé".encode()})
    assert non_ascii.status_code == 403


def test_keys_never_reach_the_log(api, api_keys, write_headers):
    httpx.post(f"{api.base}/api/data", json=GOOD_BAR, headers={"X-API-Key": "wrong-key-abc123"})
    httpx.post(f"{api.base}/api/data", json=GOOD_BAR, headers=write_headers)
    log = api.log_text()
    assert "wrong-key-abc123" not in log and all(key not in log for key in api_keys)


def test_bars_are_validated_and_accepted_rows_land_as_csv(api, pipeline, write_headers):
    before = _landing_files(pipeline)
    bars = [
        GOOD_BAR,
        {**GOOD_BAR, "symbol": "msft", "date": "2018-02-09"},
        {**GOOD_BAR, "date": "2018-02-10"},  # a Saturday
        {**GOOD_BAR, "date": "2018-02-12", "high": 150.0},  # high below close
        {**GOOD_BAR, "date": "2099-01-05", "volume": None},  # future, missing volume
        {**GOOD_BAR, "date": "2018-02-13", "open": -1.0, "low": -2.0},
    ]
    response = httpx.post(f"{api.base}/api/data", json=bars, headers=write_headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 2
    reasons = {r["row"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {2, 3, 4, 5}
    assert "weekend" in reasons[2]
    assert "OHLC inconsistent" in reasons[3]
    assert "future" in reasons[4] and "missing value" in reasons[4]
    assert "non-positive price" in reasons[5]

    new = _landing_files(pipeline) - before
    assert len(new) == 1, new  # one complete file, no temporary left behind
    (path,) = new
    assert path.name.endswith(".csv") and not path.name.startswith(".")
    assert body["landing_file"] == str(path.relative_to(pipeline.settings.home / "landing"))
    landed = pd.read_csv(path)
    assert list(landed.columns) == ["date", "open", "high", "low", "close", "volume", "Name"]
    assert landed[["date", "Name"]].values.tolist() == [["2018-02-08", "AAPL"], ["2018-02-09", "MSFT"]]
    assert landed["close"].tolist() == [157.5, 157.5]
    # The platform's own reader of the landing zone understands the file.
    parsed = read_bar_file(path).bars
    assert parsed["symbol"].tolist() == ["AAPL", "MSFT"]
    assert parsed["date"].dt.strftime("%Y-%m-%d").tolist() == ["2018-02-08", "2018-02-09"]


def test_one_bar_is_accepted_and_all_rejected_is_422(api, pipeline, write_headers):
    single = httpx.post(f"{api.base}/api/data", json=GOOD_BAR, headers=write_headers)
    assert single.status_code == 202 and single.json()["accepted"] == 1
    before = _landing_files(pipeline)
    bad = httpx.post(f"{api.base}/api/data", json={**GOOD_BAR, "date": "2018-02-11"}, headers=write_headers)
    assert bad.status_code == 422
    assert bad.json()["accepted"] == 0 and "weekend" in bad.json()["rejected"][0]["reason"]
    assert _landing_files(pipeline) == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**GOOD_BAR, "date": "08/02/2018"}, "body.date"),
        ({k: v for k, v in GOOD_BAR.items() if k != "close"}, "body.close: Field required"),
        ([], "body: List should have at least 1 item"),
        ("AAPL", "the body must be one bar"),
        ([{**GOOD_BAR, "open": "cheap"}], "body.0.open"),
        ({**GOOD_BAR, "date": "0001-01-03"}, "body.date"),  # outside any timestamp the platform keeps
        ([GOOD_BAR, {**GOOD_BAR, "date": "2300-01-03"}], "body.1.date"),
    ],
)
def test_malformed_bars_name_the_field(api, write_headers, body, needle):
    response = httpx.post(f"{api.base}/api/data", json=body, headers=write_headers)
    assert response.status_code == 422, response.text
    assert needle in response.json()["error"]


def test_portfolio_versions_are_kept_and_the_newest_is_current(api, api_keys, pipeline, write_headers):
    first = httpx.post(
        f"{api.base}/api/portfolio/update",
        json={"weights": {"AAPL": 0.5, "adbe": 0.5}},
        headers=write_headers,
    )
    assert first.status_code == 201, first.text
    second = httpx.post(
        f"{api.base}/api/portfolio/update",
        json={"weights": {"AAPL": 0.3, "AMZN": 0.3, "ABT": 0.39995}},
        headers=write_headers,
    )
    assert second.status_code == 201, second.text
    v1, v2 = first.json(), second.json()
    assert v2["version"] == v1["version"] + 1
    assert v1["weights"] == {"AAPL": 0.5, "ADBE": 0.5}
    assert v2["submitted_by"].startswith("key:") and api_keys[1] not in json.dumps(v2)
    assert v2["model_version"] == pipeline.value("champion_model")["version"]
    current = httpx.get(f"{api.base}/api/portfolio")
    assert current.status_code == 200 and current.json() == v2
    stored = pipeline.settings.home / "portfolio" / f"v{v1['version']:06d}.json"
    assert json.loads(stored.read_text())["weights"] == v1["weights"]  # history kept


@pytest.mark.parametrize(
    ("weights", "needles"),
    [
        ({"AAPL": 0.5, "ZZZZ": 0.5}, ["unknown symbol(s) ZZZZ"]),
        ({"AAPL": 0.5, "ADBE": 0.4}, ["sum to 1", "0.9"]),
        ({"AAPL": 0.7, "ADBE": 0.3}, ["cap 0.5", "AAPL"]),
        ({"AAPL": 1.5, "ADBE": -0.5}, ["ADBE", ">= 0", "cap"]),
        ({"AAPL": 1e308, "ADBE": 1e308}, ["cap 0.5", "AAPL, ADBE"]),  # their sum would overflow
        ({"AAPL": -1e308, "ADBE": -1e308}, [">= 0", "AAPL, ADBE"]),  # so would this one (was a 500)
    ],
)
def test_invalid_portfolios_are_refused_with_reasons(api, write_headers, weights, needles):
    response = httpx.post(
        f"{api.base}/api/portfolio/update", json={"weights": weights}, headers=write_headers
    )
    assert response.status_code == 422, response.text
    for needle in needles:
        assert needle in response.json()["error"]


def test_non_finite_and_repeated_weights_are_refused(api, write_headers):
    raw = '{"weights": {"AAPL": NaN, "ADBE": 0.5}}'
    headers = {**write_headers, "content-type": "application/json"}
    nan = httpx.post(f"{api.base}/api/portfolio/update", content=raw, headers=headers)
    assert nan.status_code == 422 and "finite" in nan.json()["error"]
    twice = httpx.post(
        f"{api.base}/api/portfolio/update",
        json={"weights": {"AAPL": 0.5, "aapl": 0.5}},
        headers=write_headers,
    )
    assert twice.status_code == 422 and "more than once" in twice.json()["error"]
