"""The paper broker and the ledger: next-open fills with the backtest's costs, an append-only book that
reconciles, idempotent submits, and a crash between order and fill that loses nothing."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from quant_assets.brokers.base import OrderRequest
from quant_assets.brokers.ledger import Ledger
from quant_assets.brokers.paper import PaperBroker
from quant_assets.core.costs import CostModel
from quant_assets.core.execution import execute_orders

DAYS = pd.bdate_range("2018-01-01", periods=6)
OPENS = pd.DataFrame({"AAA": [100, 101, 102, 103, 104, 105], "BBB": [50, 51, 52, 53, 54, 55]}, index=DAYS,
                     dtype=float)  # fmt: skip
CLOSES = OPENS + 0.5
COSTS = CostModel(commission_bps=1.0, min_commission=1.0, slippage_bps=5.0)


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _order(symbol: str, side: str, shares: int, tag: str = "v1") -> OrderRequest:
    return OrderRequest(f"qa-{tag}-{symbol}", symbol, side, shares, float(CLOSES[symbol].iloc[0]))


def test_orders_fill_at_the_next_open_with_the_backtests_execution(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=100_000.0, costs=COSTS, as_of=DAYS[0])
    broker.submit(_order("AAA", "buy", 300))
    broker.submit(_order("BBB", "buy", 400))
    assert {o.status for o in broker.open_orders()} == {"accepted"}
    assert broker.settle(OPENS.iloc[:1]) == []  # nothing after the decision date yet: still open
    changed = broker.settle(OPENS)
    assert {s.status for s in changed} == {"filled"}
    expected = execute_orders(np.array([300.0, 400.0]), OPENS.loc[DAYS[1], ["AAA", "BBB"]].to_numpy(),
                              100_000.0, COSTS, whole_shares=True)  # fmt: skip
    got = {s.symbol: s for s in changed}
    assert got["AAA"].average_fill_price == pytest.approx(expected.fill_price[0], rel=1e-12)
    assert got["BBB"].commission == pytest.approx(expected.commission[1], rel=1e-12)
    assert broker.account().cash == pytest.approx(expected.cash, rel=1e-12)
    assert broker.account().positions == {"AAA": 300.0, "BBB": 400.0}


def test_cash_plus_positions_is_equity_on_every_marked_day(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=50_000.0, costs=COSTS, as_of=DAYS[0])
    broker.submit(_order("AAA", "buy", 200))
    broker.settle(OPENS.iloc[:2])
    for day in DAYS[1:4]:
        broker.mark(day.date(), CLOSES.loc[day])
    broker.as_of = DAYS[3]
    broker.submit(_order("AAA", "sell", 150, tag="v2"))
    broker.settle(OPENS)
    for day in DAYS[4:]:
        broker.mark(day.date(), CLOSES.loc[day])
    history = broker.book.equity_history()
    assert len(history) == 5
    held = {DAYS[1]: 200, DAYS[2]: 200, DAYS[3]: 200, DAYS[4]: 50, DAYS[5]: 50}
    for day, row in history.iterrows():
        assert row["cash"] + held[day] * CLOSES.loc[day, "AAA"] == pytest.approx(row["equity"], rel=1e-12)
        assert row["cash"] >= 0


def test_a_buy_cash_cannot_cover_is_cut_and_the_rest_expires_with_the_reason(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=10_000.0, costs=COSTS, as_of=DAYS[0])
    state = broker.submit(_order("AAA", "buy", 500))  # ~$50,500 asked with $10,000
    broker.settle(OPENS)
    state = broker.get_order(state.client_order_id)
    assert state.status == "expired" and 0 < state.filled_shares < 500
    assert "cash covered" in state.reason and broker.account().cash >= 0


def test_selling_more_than_held_is_rejected(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=10_000.0, as_of=DAYS[0])
    state = broker.submit(_order("AAA", "sell", 10))
    assert state.status == "rejected" and "insufficient position" in state.reason


def test_a_repeated_client_order_id_sends_nothing_new(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=100_000.0, as_of=DAYS[0])
    first = broker.submit(_order("AAA", "buy", 10))
    again = broker.submit(_order("AAA", "buy", 10))
    assert again.broker_order_id == first.broker_order_id
    assert len(broker.book.order_states()) == 1
    broker.settle(OPENS)
    broker.settle(OPENS)  # settling twice fills once
    assert broker.account().positions == {"AAA": 10.0}


def test_the_ledger_never_updates_or_deletes_a_row(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=100_000.0, as_of=DAYS[0])
    broker.submit(_order("AAA", "buy", 10))
    engine = sa.create_engine(_url(tmp_path))
    statements: list[str] = []
    sa.event.listen(broker.book.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *a: statements.append(statement))  # fmt: skip
    broker.settle(OPENS)
    broker.cancel("qa-v1-AAA")  # already filled: nothing to cancel, nothing written
    broker.mark(DAYS[1].date(), CLOSES.loc[DAYS[1]])
    broker.mark(DAYS[1].date(), CLOSES.loc[DAYS[1]] * 1.01)  # a revised close adds a mark
    verbs = [s.split()[0].upper() for s in statements]
    writes = [v for v in verbs if v in {"INSERT", "UPDATE", "DELETE"}]
    assert writes and set(writes) == {"INSERT"}
    with engine.connect() as db:
        marks = db.execute(sa.text("select count(*) from paper_marks where symbol is null")).scalar_one()
    assert marks == 2
    assert broker.book.equity_history()["equity"].iloc[-1] == pytest.approx(
        broker.account().cash + 10 * CLOSES.loc[DAYS[1], "AAA"] * 1.01
    )


def test_a_crash_between_order_and_fill_is_reconciled_without_loss_or_double_fill(tmp_path):
    """The platform records the order, the broker accepts it, then the cycle dies before recording the
    broker's answer. The next cycle syncs every order it knows from the broker: one fill, no loss."""
    url = _url(tmp_path)
    ledger = Ledger(url)
    ledger.deposit(100_000.0)
    broker = PaperBroker(url, capital=100_000.0, as_of=DAYS[0])
    order = _order("AAA", "buy", 100)
    ledger.record_order(order, DAYS[0].date(), "v1")
    broker.submit(order)
    # -- crash here: the ledger never heard back. Next day the broker fills at the open.
    broker.settle(OPENS.iloc[:2])
    assert ledger.positions() == {} and broker.account().positions == {"AAA": 100.0}
    for _ in range(2):  # the next cycle syncs (and a retried cycle syncs again)
        for state in ledger.order_states().itertuples():
            ledger.record_state(broker.get_order(state.client_order_id), fill_date=DAYS[1].date())
        assert broker.submit(order).filled_shares == 100  # the retried submit sends nothing new
    assert ledger.positions() == broker.account().positions == {"AAA": 100.0}
    assert ledger.cash() == pytest.approx(broker.account().cash, rel=1e-12)
    assert len(ledger.fill_history()) == 1


def test_entries_track_the_open_position_and_its_average_cost(tmp_path):
    broker = PaperBroker(_url(tmp_path), capital=100_000.0, costs=CostModel.free(), as_of=DAYS[0])
    broker.submit(_order("AAA", "buy", 100))
    broker.settle(OPENS.iloc[:2])  # 100 @ 101
    broker.as_of = DAYS[1]
    broker.submit(_order("AAA", "buy", 100, tag="v2"))
    broker.settle(OPENS.iloc[:3])  # 100 @ 102
    broker.as_of = DAYS[2]
    broker.submit(_order("AAA", "sell", 50, tag="v3"))
    broker.settle(OPENS.iloc[:4])
    entry = broker.book.entries()["AAA"]
    assert entry.shares == 150 and entry.entry_price == pytest.approx(101.5)
    assert entry.entry_date == DAYS[1]
    assert isinstance(entry.entry_date, pd.Timestamp) and DAYS[1].date() == dt.date(2018, 1, 2)
