"""The trading cycle over HTTP: risk report, positions and orders as the CLI shows them, and posted weights
judged by the risk limits, on real ``bentoml serve`` processes.

Two servers read a fresh QUANT_HOME each (only the pipeline's Feast store linked in), so they start with
no ledger and no risk report: one judges with the risk_limits.yaml packaged into the bento, the other
with a QUANT_RISK_LIMITS file of its own. The shared server reads the pipeline's home, where a trading
cycle has run.
"""

import datetime as dt
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from quant_assets.brokers.base import OrderRequest, OrderState
from quant_assets.brokers.ledger import Ledger
from quant_assets.core.limit_checks import LIMIT_NAMES
from quant_assets.settings import BUNDLED_DATA_DIR
from quant_assets.trading_views import orders_view, positions_view

KEY = "trading-test-key-5d1e"
LIMITS = """\
max_weight: 0.4
min_names: 3
max_var_95_1d: 0.005
max_turnover: 0.6
never_trade: [AMZN]
"""
THREE_NAMES = {"AAPL": 0.34, "ABT": 0.33, "ADBE": 0.33}  # within every limit above, unless measured


def _fresh_home(tmp_path_factory, pipeline, name: str) -> Path:
    home = tmp_path_factory.mktemp(name)
    (home / "feast").symlink_to(pipeline.settings.feast_dir, target_is_directory=True)
    return home


def _env(home: Path, risk_limits: str) -> dict[str, str]:
    return {
        "QUANT_HOME": str(home),
        "QUANT_API_KEYS": KEY,
        "QUANT_MAX_WEIGHT": "0.5",
        "QUANT_RISK_LIMITS": risk_limits,  # empty: the file packaged into the bento
    }


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, pipeline, start_server):
    home = _fresh_home(tmp_path_factory, pipeline, "fresh_home")
    with start_server("trading-fresh", _env(home, "")) as server:
        server.home = home
        yield server


@pytest.fixture(scope="module")
def limited(tmp_path_factory, pipeline, start_server):
    home = _fresh_home(tmp_path_factory, pipeline, "limited_home")
    (home / "limits.yaml").write_text(LIMITS)
    with start_server("trading-limits", _env(home, str(home / "limits.yaml"))) as server:
        server.home = home
        yield server


def _post(server, weights: dict[str, float]) -> httpx.Response:
    return httpx.post(
        f"{server.base}/api/portfolio/update", json={"weights": weights}, headers={"X-API-Key": KEY}
    )


def _orders(server, status: str) -> list[dict]:
    response = httpx.get(f"{server.base}/api/orders", params={"status": status})
    assert response.status_code == 200, response.text
    return response.json()["orders"]


def _write_ledger(url: str) -> None:
    """A small account: one filled buy, one open order, one rejected; marked on two days."""
    ledger = Ledger(url)
    ledger.deposit(100_000.0)
    aapl = OrderRequest("v1-AAPL", "AAPL", "buy", 10, 160.0)
    abt = OrderRequest("v1-ABT", "ABT", "buy", 20, 60.0)
    adbe = OrderRequest("v1-ADBE", "ADBE", "buy", 5, 200.0)
    for order in (aapl, abt, adbe):
        ledger.record_order(order, dt.date(2018, 2, 7), "v1")
    ledger.record_state(
        OrderState("v1-AAPL", "AAPL", "buy", 10, "filled", 10, 161.0, commission=1.0),
        fill_date=dt.date(2018, 2, 8),
    )
    ledger.record_state(OrderState("v1-ABT", "ABT", "buy", 20, "new"))
    rejected = OrderState("v1-ADBE", "ADBE", "buy", 5, "rejected", reason="insufficient buying power")
    ledger.record_state(rejected)
    ledger.mark(dt.date(2018, 2, 8), pd.Series({"AAPL": 165.0}))
    ledger.mark(dt.date(2018, 2, 9), pd.Series({"AAPL": 150.0}))


def test_reads_before_any_trading_cycle_are_empty_and_create_nothing(fresh):
    risk = httpx.get(f"{fresh.base}/api/risk")
    assert risk.status_code == 404, risk.text
    assert "no risk report yet" in risk.json()["error"] and "make demo" in risk.json()["error"]
    positions = httpx.get(f"{fresh.base}/api/positions")
    assert positions.status_code == 200, positions.text
    assert positions.json() == {
        "as_of": None, "cash": 0.0, "equity": 0.0, "positions": [], "drawdown": None, "equity_history": []
    }  # fmt: skip
    for status in ("", "?status=open", "?status=filled"):
        orders = httpx.get(f"{fresh.base}/api/orders{status}")
        assert orders.status_code == 200 and orders.json() == {"orders": []}, orders.text
    # A GET never creates the ledger (the trading cycle does, on its first run).
    assert not (fresh.home / "trading" / "ledger.db").exists()


def test_reads_show_the_ledger_and_the_stored_risk_report(fresh, pipeline):
    ledger_file = fresh.home / "trading" / "ledger.db"
    lake = fresh.home / "lake"
    lake.mkdir()
    report = pipeline.value("portfolio_risk")
    targets = pipeline.value("trading_targets")
    try:
        _write_ledger(f"sqlite:///{ledger_file}")
        (lake / "portfolio_risk.json").write_text(json.dumps(report, default=str))

        positions = httpx.get(f"{fresh.base}/api/positions").json()
        cash, equity = 100_000.0 - 10 * 161.0 - 1.0, 100_000.0 - 10 * 161.0 - 1.0 + 10 * 150.0
        assert positions["as_of"] == "2018-02-09"
        assert positions["cash"] == pytest.approx(cash) and positions["equity"] == pytest.approx(equity)
        (aapl,) = positions["positions"]
        assert aapl == {
            "symbol": "AAPL", "shares": 10.0, "price": 150.0, "value": 1500.0,
            "weight": pytest.approx(1500.0 / equity),
        }  # fmt: skip
        peak = cash + 10 * 165.0
        assert positions["drawdown"] == pytest.approx(1 - equity / peak)
        assert [p["date"] for p in positions["equity_history"]] == ["2018-02-08", "2018-02-09"]

        everything = httpx.get(f"{fresh.base}/api/orders").json()["orders"]
        assert [o["client_order_id"] for o in everything] == ["v1-AAPL", "v1-ABT", "v1-ADBE"]
        (filled,) = _orders(fresh, "filled")
        fields = ("symbol", "filled_shares", "average_fill_price", "commission", "as_of", "portfolio_version")
        assert [filled[f] for f in fields] == ["AAPL", 10.0, 161.0, 1.0, "2018-02-07", "v1"]
        (still_open,) = _orders(fresh, "open")
        assert (still_open["symbol"], still_open["status"], still_open["filled_shares"]) == ("ABT", "new", 0)
        (rejected,) = _orders(fresh, "rejected")
        assert rejected["reason"] == "insufficient buying power"
        assert _orders(fresh, "canceled") == []

        risk = httpx.get(f"{fresh.base}/api/risk")
        assert risk.status_code == 200, risk.text
        body = risk.json()
        assert body["var"] == report["var"] and body["stress"] == report["stress"]
        assert (body["as_of"], body["largest_name"]) == (report["as_of"], report["largest_name"])
        assert body["volatility"] == pytest.approx(report["volatility"])
        assert body["paper_account_drawdown"] == pytest.approx(positions["drawdown"])
        assert body["limits"] is None  # no trading cycle judged targets in this home
        (lake / "trading_targets.json").write_text(json.dumps(targets, default=str))
        limits = httpx.get(f"{fresh.base}/api/risk").json()["limits"]
        assert limits["as_of"] == targets["as_of"]
        assert set(limits["results"]) == set(LIMIT_NAMES)
        assert limits["results"]["min_names"] == targets["limits"]["min_names"]
    finally:
        ledger_file.unlink(missing_ok=True)
        for name in ("portfolio_risk.json", "trading_targets.json"):
            (lake / name).unlink(missing_ok=True)


def test_a_ledger_that_cannot_be_opened_is_a_503(fresh):
    ledger = fresh.home / "trading" / "ledger.db"
    ledger.mkdir(parents=True)  # SQLite cannot open a folder: what a lost database server looks like
    try:
        for path in ("/api/positions", "/api/orders"):
            response = httpx.get(f"{fresh.base}{path}")
            assert response.status_code == 503, response.text
            assert "trading ledger could not be read" in response.json()["error"]
    finally:
        ledger.rmdir()


def test_an_unknown_order_status_is_a_422_naming_the_allowed_ones(fresh):
    response = httpx.get(f"{fresh.base}/api/orders", params={"status": "done"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "query.status" in error and all(s in error for s in ("'open'", "'filled'", "'canceled'"))


def test_the_risk_limits_packaged_into_the_bento_judge_posted_weights(fresh):
    # Within the server's cap (QUANT_MAX_WEIGHT 0.5) and summing to 1, but not within risk_limits.yaml.
    response = _post(fresh, {"AAPL": 0.5, "AMZN": 0.5})
    assert response.status_code == 422, response.text
    breaches = {b["limit"]: b for b in response.json()["breaches"]}
    assert set(breaches) == {"max_weight", "min_names"}
    assert (breaches["max_weight"]["value"], breaches["max_weight"]["threshold"]) == (0.5, 0.10)
    assert (breaches["min_names"]["value"], breaches["min_names"]["threshold"]) == (2.0, 5.0)
    assert not (fresh.home / "portfolio").exists()


def test_every_breach_is_listed_and_nothing_is_stored(limited):
    before = httpx.get(f"{limited.base}/api/portfolio")
    response = _post(limited, {"AAPL": 0.5, "AMZN": 0.5})
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "breaches"}
    assert [(b["limit"], b["value"], b["threshold"]) for b in body["breaches"]] == [
        ("max_weight", 0.5, 0.4),
        ("min_names", 2.0, 3.0),
        ("never_trade", 1.0, 0.0),
    ]
    never = body["breaches"][2]["reason"]
    assert "AMZN" in never and "AAPL" not in never
    assert "only 2 name(s) targeted" in body["breaches"][1]["reason"]
    for breach in body["breaches"]:
        assert f"{breach['limit']}: {breach['reason']}" in body["error"]
    assert "limits.yaml" in body["error"]
    after = httpx.get(f"{limited.base}/api/portfolio")
    assert (after.status_code, after.json()) == (before.status_code, before.json())


def test_weights_within_the_limits_are_stored(limited):
    response = _post(limited, THREE_NAMES)
    assert response.status_code == 201, response.text
    assert response.json()["weights"] == THREE_NAMES
    assert httpx.get(f"{limited.base}/api/portfolio").json() == response.json()


def test_unreadable_risk_limits_refuse_every_update(limited):
    limits = limited.home / "limits.yaml"
    limits.write_text("max_weight: [0.4\n")  # not YAML
    try:
        response = _post(limited, THREE_NAMES)
    finally:
        limits.write_text(LIMITS)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert "risk limits cannot be read" in error and "limits.yaml" in error
    assert _post(limited, THREE_NAMES).status_code == 201  # read again on the next request


def test_var_and_turnover_are_measured_on_the_last_cycles_risk_inputs(limited):
    closes = pd.concat(
        {s: pd.read_csv(BUNDLED_DATA_DIR / f"{s}_data.csv", index_col="date")["close"] for s in THREE_NAMES},
        axis=1,
    ).tail(300)
    assert closes.notna().all().all()
    inputs = limited.home / "trading" / "risk_inputs.json"
    inputs.parent.mkdir(exist_ok=True)
    inputs.write_text(json.dumps({
        "as_of": closes.index[-1],
        "current_weights": {"ABT": 1.0},  # the book holds only ABT
        "closes": {"index": list(closes.index), "columns": list(closes.columns),
                   "data": closes.values.tolist()},
    }))  # fmt: skip
    try:
        response = _post(limited, THREE_NAMES)
    finally:
        inputs.unlink()
    assert response.status_code == 422, response.text
    breaches = {b["limit"]: b for b in response.json()["breaches"]}
    assert set(breaches) == {"max_var_95_1d", "max_turnover"}
    # Turnover: sum |target - current| / 2 = (0.34 + 0.33 + |0.33 - 1|) / 2.
    assert breaches["max_turnover"]["value"] == pytest.approx((0.34 + 0.33 + 0.67) / 2)
    # Historical 1-day VaR 95 %: the 5 % quantile of the daily returns of these weights, as a loss.
    daily = closes.pct_change().iloc[1:] @ pd.Series(THREE_NAMES)
    assert breaches["max_var_95_1d"]["value"] == pytest.approx(-np.quantile(daily, 0.05), rel=1e-9)
    assert breaches["max_var_95_1d"]["threshold"] == 0.005


def test_the_pipelines_trading_state_is_what_the_api_shows(api, pipeline):
    url = pipeline.settings.ledger_database_url
    assert httpx.get(f"{api.base}/api/positions").json() == json.loads(json.dumps(positions_view(url)))
    orders = httpx.get(f"{api.base}/api/orders").json()["orders"]
    assert orders == json.loads(json.dumps(orders_view(url))) and orders, "the cycle recorded no orders"
    risk = httpx.get(f"{api.base}/api/risk")
    assert risk.status_code == 200, risk.text
    body = risk.json()
    assert body["as_of"] == pipeline.value("portfolio_risk")["as_of"]
    assert body["limits"]["as_of"] == pipeline.value("trading_targets")["as_of"]
    assert all(result["passed"] for result in body["limits"]["results"].values())
