"""The daily trading cycle, from the day's weights to paper orders, guarded by the risk limits.

``trading_account``  yesterday's orders filled at today's open; the ledger synced with the broker,
                     marked at today's close and reconciled with it (a mismatch blocks the cycle)
``trading_targets``  the policy's weights after the rules (never-trade, stop-loss, drawdown stop) and
                     frozen names (unconfirmed prints); each risk limit is a blocking check on it
``target_orders``    whole-share orders from targets (``core.orders``)
``submitted_orders`` the orders recorded in the ledger, then sent; rejections alert

None of these is eager: the ``trading_cycle`` job runs them (its sensor is off by default).
"""


import json
import os

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    asset,
    asset_check,
)

from quant_assets.alerts import Alert
from quant_assets.automation.alert_sensors import ALERTED_AS
from quant_assets.brokers.base import FINAL_STATUSES, OrderRequest, OrderState
from quant_assets.brokers.ledger import Ledger
from quant_assets.brokers.paper import PaperBroker
from quant_assets.core.backtest import wide_prices
from quant_assets.core.limit_checks import LIMIT_NAMES
from quant_assets.core.orders import orders_from_targets
from quant_assets.core.targets import plan_targets
from quant_assets.resources.alerts import AlertsResource
from quant_assets.resources.trading import TradingResource

GROUP = "trading"
RECONCILE_TOLERANCE_SHARES = 1e-6
RECONCILE_TOLERANCE_CASH = 0.01  # dollars


def _fill_date(order_as_of: object, market_dates: pd.DatetimeIndex) -> pd.Timestamp | None:
    """The open an order decided on ``order_as_of`` fills at: the next market date we have."""
    later = market_dates[market_dates > pd.Timestamp(order_as_of)]
    return later[0] if len(later) else None


def _sync_ledger(
    ledger: Ledger, broker, market_dates: pd.DatetimeIndex, as_of: pd.Timestamp
) -> list[OrderState]:
    """Record what the broker says of every order the ledger still holds open; returns new rejections.

    An order is meant for the open after its decision: one still open after a later decision date has
    missed it and is canceled (what is filled stays filled), so it can never fill on top of newer orders."""
    rejected = []
    for row in ledger.order_states().itertuples():
        if row.status in FINAL_STATUSES:
            continue
        state = broker.get_order(row.client_order_id)
        if state is not None and state.is_open and pd.Timestamp(row.as_of) < as_of:
            state = broker.cancel(row.client_order_id)
        if state is None:  # recorded, then the cycle died before the broker heard of it
            state = OrderState(
                row.client_order_id, row.symbol, row.side, int(row.shares), "expired",
                reason="never reached the broker (the cycle stopped before sending it)",
            )  # fmt: skip
        fill_date = _fill_date(row.as_of, market_dates)
        ledger.record_state(state, fill_date=None if fill_date is None else fill_date.date())
        if state.status == "rejected" and row.status != "rejected":
            rejected.append(state)
    return rejected


def rejection_alert(state: OrderState, broker: str) -> Alert:
    """One alert per rejected order (keyed by its id: a retried cycle does not repeat it)."""
    return Alert(
        kind="order_rejected", title=f"{state.side} {state.shares} {state.symbol} rejected",
        text=state.reason or "the broker gave no reason", dedupe_key=f"rejected:{state.client_order_id}",
        fields={"client_order_id": state.client_order_id, "broker": broker},
    )  # fmt: skip


def _reconcile(ledger: Ledger, broker) -> list[str]:
    """Differences between the ledger and the broker's own account, in words (empty: they agree)."""
    account = broker.account()
    ours, theirs = ledger.positions(), account.positions
    problems = [
        f"{symbol}: ledger {ours.get(symbol, 0.0):g} shares, broker {theirs.get(symbol, 0.0):g}"
        for symbol in sorted(set(ours) | set(theirs))
        if abs(ours.get(symbol, 0.0) - theirs.get(symbol, 0.0)) > RECONCILE_TOLERANCE_SHARES
    ]
    if isinstance(broker, PaperBroker) and abs(ledger.cash() - account.cash) > RECONCILE_TOLERANCE_CASH:
        problems.append(f"cash: ledger {ledger.cash():,.2f}, broker {account.cash:,.2f}")
    return problems


@asset(group_name=GROUP, kinds={"sql"})
def trading_account(
    context: AssetExecutionContext,
    validated_bars: pd.DataFrame,
    trading: TradingResource,
    alerts: AlertsResource,
) -> dict:
    """The account on the newest market date: pending orders filled at its open, the ledger synced and
    marked at its close, and reconciled with the broker."""
    prices = wide_prices(validated_bars)
    closes = prices["close"]
    as_of = closes.index.max()
    ledger, broker = trading.ledger(), trading.connect(as_of)
    if isinstance(broker, PaperBroker):
        broker.settle(prices["open"], prices["adv"], prices["volatility"])
        broker.mark(as_of.date(), closes.ffill().loc[as_of])
    if not len(ledger.order_states()) and ledger.cash() == 0:
        opening = broker.account()
        ledger.deposit(opening.cash, f"opening balance of the {broker.name} account")
    for state in _sync_ledger(ledger, broker, closes.index, as_of):
        alerts.send(rejection_alert(state, broker.name))
    equity = ledger.mark(as_of.date(), closes.ffill().loc[as_of])
    mismatches = _reconcile(ledger, broker)
    history = ledger.equity_history()
    peak = float(history["equity"].cummax().iloc[-1])
    account = {
        "as_of": as_of.date().isoformat(),
        "broker": broker.name,
        "cash": ledger.cash(),
        "equity": equity,
        "positions": ledger.positions(),
        "drawdown": 1 - equity / peak if peak > 0 else 0.0,
        "mismatches": mismatches,
        "open_orders": int(ledger.order_states()["status"].isin(["accepted", "new", "pending_new",
                                                                   "partially_filled"]).sum()),  # fmt: skip
    }
    context.add_output_metadata({
        "as_of": account["as_of"], "broker": broker.name, "equity": equity, "cash": account["cash"],
        "drawdown": account["drawdown"], "positions": MetadataValue.json(account["positions"]),
        "mismatches": MetadataValue.json(mismatches),
    })  # fmt: skip
    return account


@asset_check(asset=trading_account, blocking=True, description="The ledger agrees with the broker")
def ledger_matches_broker(trading_account: dict, alerts: AlertsResource) -> AssetCheckResult:
    mismatches = trading_account["mismatches"]
    if mismatches:
        alerts.send(Alert(
            kind="reconciliation_mismatch", title=f"ledger and {trading_account['broker']} disagree",
            text="The trading cycle is blocked until they agree:\n" + "\n".join(mismatches),
            dedupe_key=f"reconcile:{trading_account['as_of']}:{';'.join(mismatches)}",
            fields={"as_of": trading_account["as_of"], "differences": str(len(mismatches))},
        ))  # fmt: skip
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.ERROR,
        metadata={"mismatches": MetadataValue.json(mismatches),
                  **({ALERTED_AS: "reconciliation_mismatch"} if mismatches else {})},  # fmt: skip
        description="; ".join(mismatches) if mismatches else "ledger and broker agree",
    )


@asset(group_name=GROUP, kinds={"pandas"})
def trading_targets(
    context: AssetExecutionContext,
    portfolio_weights: pd.DataFrame,
    validated_bars: pd.DataFrame,
    trading_account: dict,
    trading: TradingResource,
    alerts: AlertsResource,
) -> dict:
    """Today's targets: the policy's weights after the drawdown stop, the stop-loss and the never-trade
    list (``core.stops``), judged by every risk limit. Symbols whose newest print is unconfirmed are
    frozen (no new orders) until the next bar."""
    closes = validated_bars.pivot(index="date", columns="symbol", values="close").sort_index()
    ledger = trading.ledger()
    record = plan_targets(
        portfolio_weights.set_index("symbol")["weight"],
        validated_bars,
        trading_account["positions"],
        ledger.equity_history()["equity"],
        trading.limits(),
        holdings=ledger.holdings(),
        stopped_out=ledger.stopped_out(),
    )
    for event in record["events"]:
        if event["rule"] == "drawdown_stop":
            alerts.send(Alert(
                kind="drawdown_stop", title=f"drawdown stop on {event['date']}", text=event["reason"],
                fields={"drawdown": f"{record['drawdown_stop']['drawdown']:.2%}",
                        "targets scaled to": f"{record['drawdown_stop']['scale']:.0%}"},
            ))  # fmt: skip
    results, frozen, events = record["limits"], record["frozen"], record["events"]
    trading.risk_inputs_path.parent.mkdir(parents=True, exist_ok=True)
    # written aside and renamed over: the HTTP API reading it (or a killed run) never sees half a file
    partial = trading.risk_inputs_path.with_name(f"{trading.risk_inputs_path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({
        "as_of": record["as_of"], "current_weights": record["current_weights"],
        "closes": json.loads(closes.tail(505).to_json(orient="split", date_format="iso")),
    }))  # fmt: skip
    partial.replace(trading.risk_inputs_path)
    context.add_output_metadata({
        "as_of": record["as_of"], "version": record["version"], "names": len(record["targets"]),
        "frozen": MetadataValue.json(frozen), "events": MetadataValue.json(events),
        "limits": MetadataValue.md(pd.DataFrame(results.values()).to_markdown(index=False, floatfmt=".4f")),
    })  # fmt: skip
    return record


def _limit_check(limit: str):
    @asset_check(
        asset=trading_targets, name=f"limit_{limit}", blocking=True,
        description=f"Risk limit {limit} (risk_limits.yaml): a breach stops today's orders and alerts",
    )  # fmt: skip
    def check(trading_targets: dict, alerts: AlertsResource) -> AssetCheckResult:
        result = trading_targets["limits"][limit]
        if not result["passed"]:
            alerts.send(Alert(
                kind="risk_limit_breach", title=f"risk limit {limit} breached on {trading_targets['as_of']}",
                text=f"{result['reason']}. No orders are sent today.",
                fields={"limit": limit, "value": result["value"], "threshold": result["threshold"],
                        "portfolio_version": trading_targets["version"]},
            ))  # fmt: skip
        return AssetCheckResult(
            passed=bool(result["passed"]),
            severity=AssetCheckSeverity.ERROR,
            metadata={"value": result["value"] if result["value"] is not None else float("nan"),
                      "threshold": result["threshold"], "reason": result["reason"],
                      **({} if result["passed"] else {ALERTED_AS: "risk_limit_breach"})},  # fmt: skip
            description=result["reason"],
        )

    return check


LIMIT_CHECKS = tuple(_limit_check(limit) for limit in LIMIT_NAMES)


def _orders_table(orders: pd.DataFrame) -> str:
    if orders.empty:
        return "no orders"
    columns = ["symbol", "side", "shares", "reference_price", "notional"]
    return orders[columns].to_markdown(index=False, floatfmt=",.2f")


@asset(group_name=GROUP, kinds={"pandas"})
def target_orders(
    context: AssetExecutionContext,
    trading_targets: dict,
    trading_account: dict,
    validated_bars: pd.DataFrame,
    trading: TradingResource,
) -> pd.DataFrame:
    """Whole-share orders that move the book toward today's targets (``core.orders``)."""
    closes = validated_bars.pivot(index="date", columns="symbol", values="close").sort_index()
    plan = orders_from_targets(
        pd.Series(trading_targets["targets"], dtype=float),
        pd.Series(trading_account["positions"], dtype=float),
        float(trading_account["cash"]),
        closes.ffill().iloc[-1],
        version=trading_targets["version"],
        policy=trading.order_policy(),
        frozen=trading_targets["frozen"],
    )
    context.add_output_metadata({
        "dagster/row_count": len(plan.orders), "version": trading_targets["version"],
        "turnover": plan.turnover, "turnover_scale": plan.turnover_scale,
        "orders": MetadataValue.md(_orders_table(plan.orders)),
        "skipped": MetadataValue.json(dict(zip(plan.skipped["symbol"], plan.skipped["reason"], strict=True))),
    })  # fmt: skip
    return plan.orders


@asset(group_name=GROUP, kinds={"sql"})
def submitted_orders(
    context: AssetExecutionContext,
    target_orders: pd.DataFrame,
    trading_targets: dict,
    trading: TradingResource,
    alerts: AlertsResource,
) -> dict:
    """Each order recorded in the ledger first, then sent: a crash in between is found by the next sync,
    and a retry sends the same client order ids, which the broker refuses to double."""
    as_of = pd.Timestamp(trading_targets["as_of"])
    ledger, broker = trading.ledger(), trading.connect(as_of)
    sent = []
    for row in target_orders.itertuples():
        order = OrderRequest(
            row.client_order_id, row.symbol, row.side, int(row.shares), float(row.reference_price)
        )
        ledger.record_order(order, as_of.date(), trading_targets["version"])
        state = broker.submit(order)
        ledger.record_state(state)
        if state.status == "rejected":
            alerts.send(rejection_alert(state, broker.name))
        sent.append({"client_order_id": order.client_order_id, "symbol": order.symbol, "side": order.side,
                     "shares": order.shares, "status": state.status})  # fmt: skip
    ledger.record_rule_events(trading_targets["events"])  # acted on: the cooldown counts from here
    account = broker.account()
    result = {
        "broker": broker.name, "as_of": trading_targets["as_of"], "version": trading_targets["version"],
        "orders": sent, "positions": ledger.positions(), "cash": ledger.cash(), "equity": account.equity,
        "blocked_by": [],
    }  # fmt: skip
    context.add_output_metadata({
        "dagster/row_count": len(sent), "broker": broker.name,
        "statuses": MetadataValue.json(pd.Series([o["status"] for o in sent]).value_counts().to_dict()),
    })  # fmt: skip
    return result
