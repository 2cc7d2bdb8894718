"""The whole trading cycle against Alpaca's paper API, played by the local fake: orders out, fills
(partial, rejected, missed) synced into the ledger, the book reconciled, stale orders canceled."""

import pytest
from assets.test_trading_cycle import DATES, DAY1, NAMES, Desk, Receiver
from fakes.alpaca_paper import AlpacaPaperFake

from quant_assets.resources.trading import TradingResource


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def fake():
    with AlpacaPaperFake(cash=1_000_000.0) as server:
        yield server


def _alpaca_desk(tmp_path, receiver, fake) -> Desk:
    desk = Desk(tmp_path, receiver)
    desk.trading = TradingResource(
        broker="alpaca", ledger_url=desk.url, risk_limits_file=str(desk.limits_file),
        state_dir=str(tmp_path / "trading"), min_order_value=0.0, no_trade_band=0.0,
        environment={"APCA_API_KEY_ID": fake.api_key, "APCA_API_SECRET_KEY": fake.secret_key,
                     "APCA_API_BASE_URL": fake.url},
    )  # fmt: skip
    return desk


def test_a_cycle_through_alpaca_records_fills_rejections_and_reconciles(tmp_path, receiver, fake):
    fake.reject_symbol("AMZN", "asset AMZN is not tradable")
    desk = _alpaca_desk(tmp_path, receiver, fake)
    first = desk.cycle(DAY1)
    assert first.success
    statuses = {o["symbol"]: o["status"] for o in first.asset_value("submitted_orders")["orders"]}
    assert statuses["AMZN"] == "rejected" and set(statuses) == set(NAMES)
    assert sum("AMZN" in t and "not tradable" in t for t in receiver.texts()) == 1
    assert desk.ledger.cash() == pytest.approx(1_000_000.0)  # the opening balance, from Alpaca

    # The open of day 2: Alpaca fills everything but ABT (half) and BA (nothing).
    day2, day3 = DATES[DATES > DAY1][:2]
    orders = first.asset_value("target_orders").set_index("symbol")
    for symbol, row in orders.iterrows():
        if symbol in ("AMZN", "BA"):
            continue
        shares = row["shares"] // 2 if symbol == "ABT" else None
        fake.fill(row["client_order_id"], price=row["reference_price"] * 1.001, shares=shares)
    second = desk.cycle(day2)
    assert second.success, [e.message for e in second.all_events if e.is_step_failure]
    account = second.asset_value("trading_account")
    assert account["mismatches"] == []
    positions = desk.ledger.positions()
    assert positions == {s: float(p.qty) for s, p in fake.positions.items()}
    assert positions["ABT"] == orders.loc["ABT", "shares"] // 2 and "BA" not in positions
    # What was meant for day 2's open and is still open at its close missed it: canceled, fills kept.
    states = desk.ledger.order_states()
    old = states[states["as_of"].astype(str) == str(DAY1.date())].set_index("symbol")
    assert old.loc["ABT", "status"] == "canceled"
    assert old.loc["ABT", "filled_shares"] == orders.loc["ABT", "shares"] // 2
    assert old.loc["BA", "status"] == "canceled" and old.loc["BA", "filled_shares"] == 0
    assert fake.order_by_client_id(orders.loc["BA", "client_order_id"]).status == "canceled"
    # Day 2's own orders went out with new ids (BA is bought again, not doubled); a retry adds none.
    today = states[states["as_of"].astype(str) == str(day2.date())].set_index("symbol")
    assert today.loc["BA", "side"] == "buy" and today.loc["BA", "status"] == "accepted"
    assert desk.cycle(day2).success
    assert len(desk.ledger.order_states()) == len(states)
    accepted = states[states["status"] != "rejected"]  # Alpaca keeps no order it refused (AMZN)
    assert len(fake.orders) == len(accepted)  # every other order reached Alpaca exactly once
    assert sorted(o.client_order_id for o in fake.orders.values()) == sorted(accepted["client_order_id"])
    assert desk.cycle(day3).success and desk.cycle(day3).asset_value("trading_account")["mismatches"] == []
