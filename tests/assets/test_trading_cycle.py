"""The trading cycle as Dagster runs it, on real bundled bars, day after day: orders, fills, limits,
unconfirmed prints, retries, reconciliation and the alerts a person would get."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from dagster import (
    DagsterInstance,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from quant_assets.assets.trading import (
    LIMIT_CHECKS,
    ledger_matches_broker,
    submitted_orders,
    target_orders,
    trading_account,
    trading_targets,
)
from quant_assets.automation.alert_sensors import check_failure_alert_sensor, run_failure_alert_sensor
from quant_assets.brokers.ledger import Ledger
from quant_assets.brokers.paper import PaperBroker
from quant_assets.resources.alerts import AlertsResource
from quant_assets.resources.trading import TradingResource
from quant_assets.settings import BUNDLED_DATA_DIR
from quant_assets.sources.bundled import load_bundled_bars

NAMES = ("AAPL", "ABT", "ADBE", "AMZN", "BA", "BAC", "CAT", "AMGN", "AXP", "ACN")
BARS = load_bundled_bars(BUNDLED_DATA_DIR, NAMES)
DATES = pd.DatetimeIndex(sorted(BARS["date"].unique()))
DAY1 = DATES[-30]
EQUAL = pd.Series(0.1, index=list(NAMES))
DEFAULT_LIMITS = "max_weight: 0.10\nmin_names: 5\nmax_var_95_1d: 0.04\nmax_turnover: 0.60\n"


class Receiver:
    """A local webhook receiver: every JSON body posted to it, in order."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def texts(self) -> list[str]:
        return [body["text"] for body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


class Desk:
    """One paper account in a temp dir; ``cycle(day, weights)`` runs the trading assets on bars to ``day``."""

    def __init__(self, tmp_path, receiver: Receiver, limits: str = DEFAULT_LIMITS) -> None:
        self.limits_file = tmp_path / "risk_limits.yaml"
        self.limits_file.write_text(limits)
        self.url = f"sqlite:///{tmp_path / 'ledger.db'}"
        self.trading = TradingResource(
            ledger_url=self.url, risk_limits_file=str(self.limits_file), state_dir=str(tmp_path / "trading"),
            min_order_value=0.0, no_trade_band=0.0,
        )  # fmt: skip
        self.alerts = AlertsResource(state_path=str(tmp_path / "alerts.db"), webhook_url=receiver.url)

    def cycle(self, day: pd.Timestamp, weights: pd.Series = EQUAL, bars: pd.DataFrame = BARS, instance=None):
        visible = bars[bars["date"] <= day]

        @asset(name="validated_bars")
        def bars_until_day() -> pd.DataFrame:
            return visible

        @asset(name="portfolio_weights")
        def todays_weights() -> pd.DataFrame:
            return weights.rename("weight").rename_axis("symbol").reset_index()

        return materialize(
            [bars_until_day, todays_weights, trading_account, trading_targets, target_orders,
             submitted_orders, ledger_matches_broker, *LIMIT_CHECKS],
            resources={"trading": self.trading, "alerts": self.alerts},
            raise_on_error=False,
            instance=instance,
        )  # fmt: skip

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.url)

    @property
    def broker(self) -> PaperBroker:
        return PaperBroker(self.url)


def _materialized(result) -> set[str]:
    events = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    return {e.asset_key.to_user_string() for e in events}


def _failed_checks(result) -> list[str]:
    return sorted(
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    )


def test_orders_go_out_then_fill_at_the_next_open_and_the_book_reconciles(tmp_path, receiver):
    desk = Desk(tmp_path, receiver)
    first = desk.cycle(DAY1)
    assert first.success
    sent = first.asset_value("submitted_orders")
    assert {o["status"] for o in sent["orders"]} == {"accepted"} and len(sent["orders"]) == len(NAMES)
    assert {o["side"] for o in sent["orders"]} == {"buy"}

    day2 = DATES[DATES > DAY1][0]
    second = desk.cycle(day2)
    assert second.success, _failed_checks(second)
    account = second.asset_value("trading_account")
    assert account["mismatches"] == [] and account["open_orders"] == 0
    fills = desk.ledger.fill_history()
    opens = BARS[BARS["date"] == day2].set_index("symbol")["open"]
    slippage = desk.trading.costs().slippage_bps * 1e-4
    assert (fills["fill_date"] == day2).all()
    assert fills.set_index("symbol")["price"].to_dict() == pytest.approx((opens * (1 + slippage)).to_dict())
    # Within one share of the target at the decision's close, every name.
    closes = BARS[BARS["date"] == DAY1].set_index("symbol")["close"]
    equity0 = desk.trading.paper_capital
    for symbol, shares in desk.ledger.positions().items():
        assert abs(shares * closes[symbol] - 0.1 * equity0 * (1 - 0.002)) <= closes[symbol]
    history = desk.ledger.equity_history()
    marks = BARS[BARS["date"] == day2].set_index("symbol")["close"]
    held = pd.Series(desk.ledger.positions())
    equity = history["equity"].iloc[-1]
    assert history["cash"].iloc[-1] + (held * marks[held.index]).sum() == pytest.approx(equity)
    assert receiver.received == []  # nothing worth a person's attention


def test_a_retried_cycle_sends_nothing_new(tmp_path, receiver):
    desk = Desk(tmp_path, receiver)
    desk.cycle(DAY1)
    again = desk.cycle(DAY1)
    assert again.success
    assert len(desk.broker.book.order_states()) == len(NAMES)
    assert len(desk.ledger.order_states()) == len(NAMES)


BREACHES = {
    "max_weight": (pd.Series({**EQUAL.iloc[:8].to_dict(), "AXP": 0.2}) * 1.0, DEFAULT_LIMITS),
    "min_names": (pd.Series({"AAPL": 0.1, "CAT": 0.1, "ACN": 0.1}), DEFAULT_LIMITS),
    "max_var_95_1d": (EQUAL, DEFAULT_LIMITS.replace("0.04", "0.002")),
    "max_turnover": (EQUAL, DEFAULT_LIMITS.replace("0.60", "0.20")),
}


@pytest.mark.parametrize("limit", list(BREACHES))
def test_each_breached_limit_blocks_orders_and_alerts_once_with_the_reason(tmp_path, receiver, limit):
    weights, limits = BREACHES[limit]
    desk = Desk(tmp_path, receiver, limits)
    result = desk.cycle(DAY1, weights)
    assert _failed_checks(result) == [f"limit_{limit}"]
    materialized = _materialized(result)
    assert "target_orders" not in materialized and "submitted_orders" not in materialized
    assert desk.ledger.order_states().empty and desk.broker.book.order_states().empty
    assert len(receiver.received) == 1
    text = receiver.texts()[0]
    assert limit in text and "No orders are sent today" in text
    reason = result.asset_value("trading_targets")["limits"][limit]["reason"]
    assert reason in text


def test_the_generic_run_and_check_alerts_stay_quiet_about_a_breach_that_alerted_itself(tmp_path, receiver):
    """The daemon's run-failure and check-failure sensors see the blocked run too: still one alert."""
    weights, limits = BREACHES["min_names"]
    desk = Desk(tmp_path, receiver, limits)
    with DagsterInstance.ephemeral() as instance:
        result = desk.cycle(DAY1, weights, instance=instance)
        assert not result.success and len(receiver.received) == 1
        with build_sensor_context(instance=instance, resources={"alerts": desk.alerts}) as context:
            check_failure_alert_sensor(context)
        with build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor", dagster_event=result.get_run_failure_event(),
            dagster_instance=instance, dagster_run=result.dagster_run, resources={"alerts": desk.alerts},
        ) as context:  # fmt: skip
            run_failure_alert_sensor(context.for_run_failure())
    assert len(receiver.received) == 1 and "min_names" in receiver.texts()[0]


def test_never_trade_names_are_not_bought_and_held_ones_are_sold(tmp_path, receiver):
    desk = Desk(tmp_path, receiver)
    desk.cycle(DAY1)
    day2 = DATES[DATES > DAY1][0]
    desk.limits_file.write_text(DEFAULT_LIMITS + "never_trade: [ACN]\n")
    result = desk.cycle(day2)
    assert result.success
    orders = result.asset_value("target_orders").set_index("symbol")
    assert orders.loc["ACN", "side"] == "sell"
    assert orders.loc["ACN", "shares"] == desk.ledger.positions()["ACN"]
    assert "ACN" not in result.asset_value("trading_targets")["targets"]


def test_an_extreme_newest_print_gets_no_orders_until_the_next_bar_confirms_it(tmp_path, receiver):
    desk = Desk(tmp_path, receiver)
    desk.cycle(DAY1, EQUAL.drop("CAT") * 0 + 0.1)  # 9 names bought, CAT not yet
    day2, day3 = DATES[DATES > DAY1][:2]
    # CAT halves on day 2 (a real move, say) and stays there on day 3.
    moved = BARS.copy()
    later = (moved["symbol"] == "CAT") & (moved["date"] >= day2)
    moved.loc[later, ["open", "high", "low", "close"]] *= 0.5
    frozen_day = desk.cycle(day2, EQUAL, moved)
    assert frozen_day.success
    targets = frozen_day.asset_value("trading_targets")
    assert "CAT" in targets["frozen"] and "unconfirmed" in targets["frozen"]["CAT"]
    assert "CAT" not in set(frozen_day.asset_value("target_orders")["symbol"])
    confirmed = desk.cycle(day3, EQUAL, moved)
    assert "CAT" not in confirmed.asset_value("trading_targets")["frozen"]
    assert "CAT" in set(confirmed.asset_value("target_orders")["symbol"])


def test_a_ledger_that_disagrees_with_the_broker_blocks_the_cycle_and_alerts(tmp_path, receiver):
    desk = Desk(tmp_path, receiver)
    desk.cycle(DAY1)
    day2 = DATES[DATES > DAY1][0]
    desk.cycle(day2)
    # Someone trades the paper account behind the platform's back: the broker holds 7 more AAPL.
    broker = PaperBroker(desk.url, as_of=day2)
    from quant_assets.brokers.base import OrderRequest

    broker.submit(OrderRequest("manual-1", "AAPL", "buy", 7, 100.0))
    day3 = DATES[DATES > day2][0]
    result = desk.cycle(day3)
    assert _failed_checks(result) == ["ledger_matches_broker"]
    materialized = _materialized(result)
    assert "trading_targets" not in materialized
    assert len(receiver.received) == 1 and "AAPL: ledger" in receiver.texts()[0]


def test_an_order_recorded_but_never_sent_expires_at_the_next_sync(tmp_path, receiver):
    from quant_assets.brokers.base import OrderRequest

    desk = Desk(tmp_path, receiver)
    desk.cycle(DAY1)
    desk.ledger.record_order(OrderRequest("qa-lost-CAT", "CAT", "buy", 5, 40.0), DAY1.date(), "lost")
    result = desk.cycle(DATES[DATES > DAY1][0])
    assert result.success
    lost = desk.ledger.order_states().set_index("client_order_id").loc["qa-lost-CAT"]
    assert lost["status"] == "expired" and "never reached the broker" in lost["reason"]
    assert lost["filled_shares"] == 0


def _falling(symbols, start: pd.Timestamp, daily: float, days: int) -> pd.DataFrame:
    """The bundled bars with ``symbols`` falling ``daily`` a day for ``days`` market days from ``start``
    (a steady slide, not a spike: every newest print stays confirmed)."""
    bars = BARS.copy()
    dates = DATES[DATES >= start]
    for k, day in enumerate(dates):
        factor = (1 + daily) ** min(k + 1, days)
        rows = bars["symbol"].isin(symbols) & (bars["date"] == day)
        bars.loc[rows, ["open", "high", "low", "close"]] *= factor
    return bars


def test_a_stop_loss_sells_the_name_and_bars_it_for_the_cooldown(tmp_path, receiver):
    limits = DEFAULT_LIMITS + "stop_loss: {from_entry: 0.10, from_high: 0.5, cooldown_days: 3}\n"
    desk = Desk(tmp_path, receiver, limits)
    day2, day3, day4, day5, day6, day7, day8 = DATES[DATES > DAY1][:7]
    bars = _falling(["CAT"], day3, -0.04, 4)  # CAT -4 % a day from day 3: -11.5 % by day 5
    for day in (DAY1, day2, day3, day4):
        assert desk.cycle(day, bars=bars).success
    assert "CAT" in desk.ledger.positions()
    day5_run = desk.cycle(day5, bars=bars)
    targets = day5_run.asset_value("trading_targets")
    assert [e["rule"] for e in targets["events"] if e["symbol"] == "CAT"] == ["stop_loss"]
    assert "CAT" not in targets["targets"]
    sell = day5_run.asset_value("target_orders").set_index("symbol").loc["CAT"]
    assert sell["side"] == "sell" and sell["shares"] == desk.ledger.positions()["CAT"]
    assert desk.ledger.stopped_out() == {"CAT": day5}
    for day in (day6, day7):  # cooling down: the policy still wants CAT, it is not bought
        run = desk.cycle(day, bars=bars)
        assert "CAT" not in run.asset_value("trading_targets")["targets"]
        assert "CAT" not in desk.ledger.positions()
    back = desk.cycle(day8, bars=bars)
    assert "CAT" in back.asset_value("trading_targets")["targets"]  # the cooldown is over
    assert back.asset_value("target_orders").set_index("symbol").loc["CAT", "side"] == "buy"


def test_the_drawdown_stop_moves_to_cash_alerts_once_and_trading_resumes_after_recovery(tmp_path, receiver):
    limits = DEFAULT_LIMITS + "drawdown_stop: {max_drawdown: 0.05, target_fraction: 0.0, recovery_days: 2}\n"
    desk = Desk(tmp_path, receiver, limits)
    days = DATES[DATES > DAY1][:8]
    bars = _falling(list(NAMES), days[1], -0.02, 4)  # every name -2 % a day for 4 days: about -7.8 %
    desk.cycle(DAY1, bars=bars)
    stop_day = None
    for day in days:
        run = desk.cycle(day, bars=bars)
        assert run.success
        targets = run.asset_value("trading_targets")
        if any(e["rule"] == "drawdown_stop" for e in targets["events"]):
            stop_day = day
            assert targets["targets"] == {} and targets["drawdown_stop"]["active"]
            orders = run.asset_value("target_orders")
            assert set(orders["side"]) == {"sell"} and set(orders["symbol"]) == set(desk.ledger.positions())
            break
    assert stop_day is not None
    alerts = [t for t in receiver.texts() if "Drawdown stop" in t]
    assert len(alerts) == 1 and "below its peak" in alerts[0]
    after = days[days > stop_day]
    held = desk.cycle(after[0], bars=bars).asset_value("trading_targets")
    assert held["targets"] == {} and held["drawdown_stop"]["active"]
    resumed = desk.cycle(after[1], bars=bars).asset_value("trading_targets")
    assert [e["rule"] for e in resumed["events"]] == ["drawdown_release"]
    assert len(resumed["targets"]) == len(NAMES)
