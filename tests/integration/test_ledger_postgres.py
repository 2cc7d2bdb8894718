"""The trading ledger on a real PostgreSQL (the production profile's database), not only SQLite.

Uses the PostgreSQL every project machine runs (127.0.0.1:5432, trust auth); each test gets its own
database, dropped afterwards. Without a server the tests skip with a message, unless
QUANT_REQUIRE_SERVICES=1 (CI) makes that a failure.
"""

import os
import uuid

import pandas as pd
import pytest

from quant_assets.brokers.base import OrderRequest
from quant_assets.brokers.ledger import Ledger
from quant_assets.brokers.paper import PaperBroker

psycopg = pytest.importorskip("psycopg")
SERVER = os.environ.get("QUANT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url():
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("QUANT_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip(f"no PostgreSQL at {SERVER} ({error}); CI runs this with QUANT_REQUIRE_SERVICES=1")
    name = f"quant_ledger_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


DAYS = pd.bdate_range("2018-01-01", periods=3)
OPENS = pd.DataFrame({"AAA": [100.0, 101.0, 102.0], "BBB": [50.0, 51.0, 52.0]}, index=DAYS)


def test_paper_account_and_ledger_on_postgres(postgres_url):
    broker = PaperBroker(postgres_url, capital=100_000.0, as_of=DAYS[0])
    ledger = Ledger(postgres_url)
    ledger.deposit(100_000.0)
    orders = [
        OrderRequest("qa-v1-AAA", "AAA", "buy", 100, 100.0),
        OrderRequest("qa-v1-BBB", "BBB", "buy", 300, 50.0),
    ]
    for order in orders:
        assert ledger.record_order(order, DAYS[0].date(), "v1")
        ledger.record_state(broker.submit(order))
        assert broker.submit(order).client_order_id == order.client_order_id  # idempotent
    broker.settle(OPENS)
    for order in orders:
        ledger.record_state(broker.get_order(order.client_order_id), fill_date=DAYS[1].date())
        ledger.record_state(broker.get_order(order.client_order_id), fill_date=DAYS[1].date())  # twice: once
    assert ledger.positions() == broker.account().positions == {"AAA": 100.0, "BBB": 300.0}
    assert ledger.cash() == pytest.approx(broker.account().cash, rel=1e-12)
    equity = ledger.mark(DAYS[1].date(), pd.Series({"AAA": 101.5, "BBB": 51.5}))
    assert equity == pytest.approx(ledger.cash() + 100 * 101.5 + 300 * 51.5)
    stop = {"date": "2018-01-02", "symbol": "AAA", "rule": "stop_loss", "reason": "down 16 % from entry"}
    assert ledger.record_rule_events([stop]) == 1
    assert ledger.record_rule_events([stop]) == 0
    assert ledger.stopped_out() == {"AAA": pd.Timestamp("2018-01-02")}
    states = ledger.order_states()
    assert set(states["status"]) == {"filled"} and len(ledger.fill_history()) == 2


def test_two_processes_recording_the_same_order_store_it_once(postgres_url):
    """Two cycles racing on one order id (a retried run beside a slow one): one row, no error."""
    from concurrent.futures import ThreadPoolExecutor

    order = OrderRequest("qa-v1-AAA", "AAA", "buy", 10, 100.0)
    ledgers = [Ledger(postgres_url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda ledger: ledger.record_order(order, DAYS[0].date(), "v1"), ledgers))
    assert results.count(True) == 1
    assert len(Ledger(postgres_url).order_states()) == 1
    # The same broker report recorded by both: one event, one fill, one cash movement.
    from quant_assets.brokers.base import OrderState

    filled = OrderState("qa-v1-AAA", "AAA", "buy", 10, "filled", 10.0, 100.5, commission=1.0)
    with ThreadPoolExecutor(4) as pool:
        new = list(pool.map(lambda ledger: ledger.record_state(filled, fill_date=DAYS[1].date()), ledgers))
    assert sorted(new) == [0.0, 0.0, 0.0, 10.0]
    ledger = Ledger(postgres_url)
    assert ledger.positions() == {"AAA": 10.0} and len(ledger.fill_history()) == 1
    assert ledger.cash() == pytest.approx(-10 * 100.5 - 1.0)
