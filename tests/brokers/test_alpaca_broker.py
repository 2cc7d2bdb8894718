"""The alpaca broker against a local fake of Alpaca's paper API (tests/fakes/alpaca_paper.py).

Everything goes through alpaca-py's real TradingClient and real HTTP on 127.0.0.1; only Alpaca's
servers are replaced. The fake plays the exchange: fills, rejections, slow answers, stale reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from alpaca.trading.models import Order
from fakes.alpaca_paper import AlpacaPaperFake

from quant_assets.brokers.alpaca import AlpacaBroker, order_state
from quant_assets.brokers.base import FINAL_STATUSES, OPEN_STATUSES, Broker, BrokerError, OrderRequest

ORDERS = "/v2/orders"
LOOKUP = "/v2/orders:by_client_order_id"


@pytest.fixture
def fake() -> Iterator[AlpacaPaperFake]:
    with AlpacaPaperFake(cash=100_000) as server:
        yield server


def make_broker(fake: AlpacaPaperFake, **options: object) -> AlpacaBroker:
    env = {
        "APCA_API_KEY_ID": fake.api_key,
        "APCA_API_SECRET_KEY": fake.secret_key,
        "APCA_API_BASE_URL": fake.url,
    }
    settings = {"timeout_s": 0.5, "attempts": 3, "retry_wait_s": 0.0} | options
    return AlpacaBroker.from_environment(env, **settings)


@pytest.fixture
def broker(fake: AlpacaPaperFake) -> AlpacaBroker:
    return make_broker(fake)


def buy(symbol: str, shares: int, cid: str | None = None) -> OrderRequest:
    return OrderRequest(cid or f"v1-{symbol}-buy", symbol, "buy", shares, reference_price=100.0)


def test_submit_poll_fill(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    assert isinstance(broker, Broker)
    state = broker.submit(buy("AAPL", 10))
    at_fake = fake.order_by_client_id("v1-AAPL-buy")
    assert at_fake is not None
    as_sent = at_fake.to_json()
    assert (as_sent["type"], as_sent["time_in_force"], as_sent["qty"], as_sent["side"]) == (
        "market",
        "opg",
        "10",
        "buy",
    )
    assert state.status == "accepted" and state.is_open
    assert (state.symbol, state.side, state.shares, state.filled_shares) == ("AAPL", "buy", 10, 0.0)
    assert state.broker_order_id == at_fake.id and state.average_fill_price is None
    assert state.submitted_at is not None and state.submitted_at.tzinfo is not None

    assert broker.get_order("v1-AAPL-buy").status == "accepted"
    fake.fill("v1-AAPL-buy", price=187.25)
    filled = broker.get_order("v1-AAPL-buy")
    assert filled.status == "filled" and not filled.is_open
    assert filled.filled_shares == 10 and filled.average_fill_price == pytest.approx(187.25)
    assert broker.open_orders() == []
    assert broker.get_order("never-sent") is None


def test_day_orders_when_configured(fake: AlpacaPaperFake) -> None:
    state = make_broker(fake, time_in_force="day").submit(buy("MSFT", 3))
    assert fake.order_by_client_id("v1-MSFT-buy").time_in_force == "day"
    assert state.status == "new"
    with pytest.raises(ValueError, match="time_in_force must be 'opg' or 'day'"):
        make_broker(fake, time_in_force="gtc")


def test_cancel_an_open_order(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    broker.submit(buy("AAPL", 10))
    canceled = broker.cancel("v1-AAPL-buy")
    assert canceled.status == "canceled" and not canceled.is_open
    assert fake.order_by_client_id("v1-AAPL-buy").status == "canceled"
    assert broker.open_orders() == []
    # canceling again asks nothing of Alpaca: the order is already final
    deletes = fake.count("DELETE", f"{ORDERS}/{canceled.broker_order_id}")
    assert broker.cancel("v1-AAPL-buy").status == "canceled"
    assert fake.count("DELETE", f"{ORDERS}/{canceled.broker_order_id}") == deletes == 1
    with pytest.raises(BrokerError, match="cannot cancel nope: Alpaca has no order"):
        broker.cancel("nope")


def test_cancel_after_a_partial_fill_keeps_the_fill(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    broker.submit(buy("AAPL", 10))
    fake.fill("v1-AAPL-buy", price=100.0, shares=4)
    canceled = broker.cancel("v1-AAPL-buy")
    assert (canceled.status, canceled.filled_shares, canceled.average_fill_price) == ("canceled", 4, 100.0)
    assert broker.account().positions == {"AAPL": 4}


def test_rejections_are_states_with_alpacas_message(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    fake.reject_symbol("GME", "asset GME is not tradable", status=422)
    rejected = broker.submit(buy("GME", 5))
    assert (rejected.status, rejected.reason) == ("rejected", "asset GME is not tradable")
    assert rejected.broker_order_id is None and not rejected.is_open
    assert fake.orders == {} and broker.get_order("v1-GME-buy") is None

    fake.set_price("AAPL", 200.0)  # 1,000 x 200 = 200,000 > 100,000 cash: Alpaca answers 403
    too_big = broker.submit(buy("AAPL", 1_000))
    assert (too_big.status, too_big.reason) == ("rejected", "insufficient buying power")
    assert fake.count("POST", ORDERS) == 2  # one attempt each: a rejection is not retried


def test_partial_fills(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    broker.submit(buy("AAPL", 10))
    fake.fill("v1-AAPL-buy", price=100.0, shares=4)
    partial = broker.get_order("v1-AAPL-buy")
    assert (partial.status, partial.filled_shares, partial.average_fill_price) == (
        "partially_filled",
        4,
        100.0,
    )
    assert partial.is_open
    assert [o.client_order_id for o in broker.open_orders()] == ["v1-AAPL-buy"]

    fake.fill("v1-AAPL-buy", price=110.0)  # the remaining 6
    done = broker.get_order("v1-AAPL-buy")
    assert (done.status, done.filled_shares) == ("filled", 10)
    assert done.average_fill_price == pytest.approx((4 * 100 + 6 * 110) / 10)
    account = broker.account()
    assert account.positions == {"AAPL": 10}
    assert account.cash == pytest.approx(100_000 - 1_060)


def test_a_timeout_then_retry_leaves_exactly_one_order(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    fake.delay_next_post(3.0)  # Alpaca takes the order but the answer comes after the client's 0.5 s
    started = time.monotonic()
    state = broker.submit(buy("AAPL", 10))
    assert time.monotonic() - started < 2.5  # the retry found the order; it did not wait for the answer
    assert fake.count("POST", ORDERS) == 1
    assert len(fake.orders) == 1
    assert state.broker_order_id == fake.order_by_client_id("v1-AAPL-buy").id
    assert fake.count("GET", LOOKUP) == 2  # before the POST, and first thing in the retry


def test_a_server_error_after_taking_the_order_is_retried_safely(
    fake: AlpacaPaperFake, broker: AlpacaBroker
) -> None:
    fake.fail_next_post(500)
    state = broker.submit(buy("AAPL", 10))
    assert (fake.count("POST", ORDERS), len(fake.orders)) == (1, 1)
    assert state.status == "accepted" and state.broker_order_id == fake.order_by_client_id("v1-AAPL-buy").id


def test_resubmitting_an_id_sends_nothing_new(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    first = broker.submit(buy("AAPL", 10))
    fake.fill("v1-AAPL-buy", price=101.0)
    again = broker.submit(buy("AAPL", 10))
    assert fake.count("POST", ORDERS) == 1
    assert again.broker_order_id == first.broker_order_id and again.status == "filled"
    with pytest.raises(BrokerError, match="already used by a different order"):
        broker.submit(OrderRequest("v1-AAPL-buy", "AAPL", "sell", 10, reference_price=100.0))
    assert fake.count("POST", ORDERS) == 1


def test_alpacas_duplicate_refusal_returns_the_known_order(
    fake: AlpacaPaperFake, broker: AlpacaBroker
) -> None:
    first = broker.submit(buy("AAPL", 10))
    fake.stale_lookups(1)  # the lookup misses the order, so the broker sends it again; Alpaca says 422
    again = broker.submit(buy("AAPL", 10))
    assert fake.count("POST", ORDERS) == 2 and len(fake.orders) == 1
    assert again.broker_order_id == first.broker_order_id and again.status == "accepted"


def test_unreachable_server_raises_after_bounded_retries(fake: AlpacaPaperFake) -> None:
    broker = make_broker(fake, attempts=2)
    fake.stop()
    with pytest.raises(
        BrokerError, match=r"submit v1-AAPL-buy .*no answer from http://127\.0\.0\.1:\d+ after 2"
    ):
        broker.submit(buy("AAPL", 10))
    with pytest.raises(BrokerError, match="read account: no answer"):
        broker.account()


def test_wrong_keys_are_a_broker_error_not_retried(fake: AlpacaPaperFake) -> None:
    env = {"APCA_API_KEY_ID": "PKWRONG", "APCA_API_SECRET_KEY": "nope", "APCA_API_BASE_URL": fake.url}
    broker = AlpacaBroker.from_environment(env, retry_wait_s=0.0)
    with pytest.raises(BrokerError, match="HTTP 401: request is not authorized"):
        broker.account()
    assert fake.count("GET", "/v2/account") == 1


def test_account_and_positions(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    assert broker.account().positions == {} and broker.account().cash == 100_000
    broker.submit(buy("AAPL", 10))
    broker.submit(OrderRequest("v1-MSFT-sell", "MSFT", "sell", 5, reference_price=50.0))
    fake.fill("v1-AAPL-buy", price=100.0)
    fake.fill("v1-MSFT-sell", price=50.0)  # sold short
    fake.set_price("AAPL", 110.0)
    account = broker.account()
    assert account.positions == {"AAPL": 10, "MSFT": -5}
    assert account.cash == pytest.approx(100_000 - 1_000 + 250)
    assert account.equity == pytest.approx(account.cash + 10 * 110 - 5 * 50)


def test_open_orders_reads_every_page(fake: AlpacaPaperFake, broker: AlpacaBroker) -> None:
    ids = [
        fake.accept_order(f"S{i:03d}", "buy", 1, client_order_id=f"v1-S{i:03d}").client_order_id
        for i in range(501)
    ]
    fake.accept_order("DONE", "buy", 1, client_order_id="v1-DONE")
    fake.fill("v1-DONE", price=1.0)
    listed = broker.open_orders()
    assert [o.client_order_id for o in listed] == ids  # oldest first, none twice, the filled one left out
    assert fake.count("GET", ORDERS) == 2


@pytest.mark.parametrize(
    ("alpaca_status", "filled", "expected"),
    [
        ("pending_cancel", 0, "accepted"),
        ("done_for_day", 4, "partially_filled"),
        ("calculated", 10, "filled"),
        ("held", 0, "accepted"),
        ("replaced", 0, "canceled"),
        ("expired", 0, "expired"),
    ],
)
def test_alpacas_other_statuses_map_to_ours(alpaca_status: str, filled: int, expected: str) -> None:
    fake = AlpacaPaperFake()  # not started: only its order JSON is used
    order = fake.accept_order("AAPL", "buy", 10, client_order_id="v1-AAPL-buy")
    if filled:
        fake.fill("v1-AAPL-buy", price=100.0, shares=filled)
    body = order.to_json() | {"status": alpaca_status}
    state = order_state(Order(**body))
    assert state.status == expected and state.status in OPEN_STATUSES | FINAL_STATUSES
    assert state.filled_shares == filled
    assert (state.reason is None) == (alpaca_status == "expired")


def test_paper_only() -> None:
    with pytest.raises(ValueError, match="paper=False would trade real money"):
        AlpacaBroker("PK", "secret", paper=False)
    env = {
        "APCA_API_KEY_ID": "PK",
        "APCA_API_SECRET_KEY": "s",
        "APCA_API_BASE_URL": "https://api.alpaca.markets/v2",
    }
    with pytest.raises(ValueError, match="live \\(real money\\) endpoint"):
        AlpacaBroker.from_environment(env)


def test_base_url_with_v2_suffix(fake: AlpacaPaperFake) -> None:
    env = {
        "APCA_API_KEY_ID": fake.api_key,
        "APCA_API_SECRET_KEY": fake.secret_key,
        "APCA_API_BASE_URL": fake.url + "/v2/",
    }
    assert AlpacaBroker.from_environment(env).account().cash == 100_000


def test_missing_keys_name_the_variables() -> None:
    with pytest.raises(ValueError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY not set"):
        AlpacaBroker.from_environment({})
    with pytest.raises(ValueError, match="alpaca broker: APCA_API_SECRET_KEY not set"):
        AlpacaBroker.from_environment({"APCA_API_KEY_ID": "PK", "APCA_API_SECRET_KEY": "  "})
