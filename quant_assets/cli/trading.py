"""Trading commands: ``quant trade`` (run the cycle), ``quant orders`` and ``quant risk`` (read its results).

``quant trade`` runs the ``trading_cycle`` job on the stored weights and bars (after ``make demo`` or the
daily pipeline), as the sensor would; ``--dry-run`` computes the same targets, limit results and orders
from the same code without writing anything. Exit status: 0 when the cycle ran (orders sent or nothing
to do), 3 when a risk limit or the reconciliation blocked it, 1 on any other failure.
"""

import argparse
import dataclasses
import json
import sys
import warnings

import pandas as pd

from quant_assets.settings import BROKERS, Settings, load_settings

BLOCKED = 3


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if getattr(args, "broker", None):
        settings = dataclasses.replace(settings, broker=args.broker)
    return settings


def _stored_inputs(settings: Settings) -> tuple[pd.DataFrame, pd.Series]:
    """The validated bars (minus partitions a blocking check rejected) and the weights the cycle reads."""
    from dagster import AssetCheckKey, AssetKey

    from quant_assets.definitions import BLOCKING_CHECKS
    from quant_assets.instance import dagster_instance
    from quant_assets.resources.lake import blocked_partitions, read_partitions, stored_partitions

    weights_file = settings.lake_dir / "portfolio_weights.parquet"
    if not weights_file.exists():
        raise FileNotFoundError(f"no portfolio weights under {settings.lake_dir}: run `make demo` first")
    checks = [AssetCheckKey(AssetKey("validated_bars"), name) for name in BLOCKING_CHECKS["validated_bars"]]
    with dagster_instance(settings) as instance:
        blocked = blocked_partitions(instance, checks)
    keys = [k for k in stored_partitions(settings.lake_dir, "validated_bars") if k not in blocked]
    bars = read_partitions(settings.lake_dir, "validated_bars", keys)
    return bars, pd.read_parquet(weights_file).set_index("symbol")["weight"]


def _dry_run(settings: Settings) -> dict:
    """Targets, limits and orders as the cycle would compute them now; nothing is written anywhere."""
    from quant_assets.brokers.ledger import Ledger
    from quant_assets.core.limits import load_risk_limits
    from quant_assets.core.orders import OrderPolicy, orders_from_targets
    from quant_assets.core.targets import plan_targets

    bars, weights = _stored_inputs(settings)
    closes = bars.pivot(index="date", columns="symbol", values="close").sort_index().ffill()
    ledger_file = settings.ledger_database_url.removeprefix("sqlite:///")
    fresh = settings.ledger_database_url.startswith("sqlite:///") and not pd.io.common.file_exists(
        ledger_file
    )
    holdings, stopped_out = {}, {}
    history = pd.Series(dtype=float)
    if fresh:  # a first cycle: the paper account's opening capital, nothing held
        from quant_assets.brokers.paper import DEFAULT_CAPITAL

        positions, cash = {}, DEFAULT_CAPITAL
    else:
        ledger = Ledger(settings.ledger_database_url)
        positions, cash = ledger.positions(), ledger.cash()
        holdings, stopped_out = ledger.holdings(), ledger.stopped_out()
        history = ledger.equity_history()["equity"]
    equity = cash + sum(n * closes.iloc[-1][s] for s, n in positions.items())
    as_of = closes.index[-1]
    history = pd.concat([history[history.index < as_of], pd.Series({as_of: equity})])  # today, unmarked
    record = plan_targets(
        weights, bars, positions, history, load_risk_limits(settings.risk_limits_file),
        holdings=holdings, stopped_out=stopped_out,
    )  # fmt: skip
    blocked_by = [
        {"check": f"limit_{name}", "reason": result["reason"]}
        for name, result in record["limits"].items()
        if not result["passed"]
    ]
    orders = []
    if not blocked_by:
        plan = orders_from_targets(
            pd.Series(record["targets"], dtype=float),
            pd.Series(positions, dtype=float),
            cash,
            closes.iloc[-1],
            version=record["version"],
            policy=OrderPolicy(),
            frozen=record["frozen"],
        )
        known = set() if fresh else set(ledger.order_states()["client_order_id"])
        orders = [
            {
                "client_order_id": o.client_order_id,
                "symbol": o.symbol,
                "side": o.side,
                "shares": int(o.shares),
                # the cycle would send it; one the ledger already holds would be refused as a duplicate
                "status": "already_sent" if o.client_order_id in known else "dry_run",
            }
            for o in plan.orders.itertuples()
        ]
    return {
        "broker": settings.broker,
        "dry_run": True,
        "as_of": record["as_of"],
        "version": record["version"],
        "orders": orders,
        "positions": positions,
        "cash": cash,
        "equity": equity,
        "frozen": record["frozen"],
        "blocked_by": blocked_by,
    }


def run_cycle(settings: Settings) -> dict:
    """Run the ``trading_cycle`` job on the persistent instance and report what happened."""
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import dagster_instance

    job = build_definitions(settings).resolve_job_def("trading_cycle")
    with dagster_instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags={"quant/trigger": "cli"}
        )
    blocked_by = [
        {
            "check": e.event_specific_data.check_name,
            "reason": e.event_specific_data.description or e.event_specific_data.check_name,
        }
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    failures = [e.message for e in result.all_events if e.is_step_failure]
    if failures and not blocked_by:
        raise RuntimeError("the trading cycle failed: " + "; ".join(failures))
    done = {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    if "submitted_orders" in done:
        return {**result.asset_value("submitted_orders"), "blocked_by": blocked_by}
    account = result.asset_value("trading_account") if "trading_account" in done else {}
    return {
        "broker": settings.broker,
        "as_of": account.get("as_of"),
        "orders": [],
        "positions": account.get("positions", {}),
        "cash": account.get("cash"),
        "equity": account.get("equity"),
        "blocked_by": blocked_by,
    }


def _print_cycle(payload: dict) -> None:
    equity = payload.get("equity")
    head = f"{payload['broker']} account {payload.get('as_of') or ''}".strip()
    if equity is not None:
        head += (
            f": equity ${equity:,.2f}, cash ${payload['cash']:,.2f}, {len(payload['positions'])} positions"
        )
    print(head + (" (dry run: nothing sent)" if payload.get("dry_run") else ""))
    for order in payload["orders"]:
        print(
            f"  {order['side']:<4} {order['shares']:>8,} {order['symbol']:<6} {order['status']:<10} "
            f"{order['client_order_id']}"
        )
    if not payload["orders"] and not payload["blocked_by"]:
        print("  no orders: the book is within its bands of the targets")
    for symbol, reason in (payload.get("frozen") or {}).items():
        print(f"  frozen {symbol}: {reason}")
    for block in payload["blocked_by"]:
        print(f"  BLOCKED by {block['check']}: {block['reason']}")


def trade(args: argparse.Namespace) -> int:
    _quiet()
    settings = _settings(args)
    try:
        payload = _dry_run(settings) if args.dry_run else run_cycle(settings)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        _print_cycle(payload)
    return BLOCKED if payload["blocked_by"] else 0


def orders(args: argparse.Namespace) -> int:
    from quant_assets.trading_views import orders_view

    rows = orders_view(load_settings().ledger_database_url, args.status)
    if args.json:
        print(json.dumps({"orders": rows}, default=str))
        return 0
    if not rows:
        print("no orders" + (f" with status {args.status}" if args.status else "") + " in the ledger")
    for o in rows:
        price = f"@ {o['average_fill_price']:.2f}" if o["average_fill_price"] else ""
        print(
            f"{o['as_of']}  {o['side']:<4} {o['shares']:>8,} {o['symbol']:<6} {o['status']:<16} "
            f"filled {o['filled_shares']:g} {price}  {o['reason'] or ''}".rstrip()
        )
    return 0


def risk(args: argparse.Namespace) -> int:
    from quant_assets.trading_views import risk_view

    settings = load_settings()
    try:
        report = risk_view(settings.lake_dir, settings.ledger_database_url)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(
        f"risk of today's weights: volatility {report['volatility']:.2%} a year, "
        f"beta to SPY {report['beta_spy'] if report['beta_spy'] is None else round(report['beta_spy'], 2)}, "
        f"{report['effective_names']:.1f} effective names, largest weight {report['largest_weight']:.2%}"
    )
    for row in report["var"]:
        print(
            f"  {row['method']:<10} VaR/CVaR {row['confidence']:.0%} {row['days']}-day: "
            f"{row['var']:.2%} / {row['cvar']:.2%}"
        )
    for row in report["stress"]:
        print(f"  worst {row['days']}-day window {row['start']} .. {row['end']}: {row['return']:.2%}")
    drawdown = report["paper_account_drawdown"]
    print(f"  paper account drawdown: {'-' if drawdown is None else f'{drawdown:.2%}'}")
    if report["limits"]:
        for name, result in report["limits"]["results"].items():
            print(f"  limit {name:<14} {'ok' if result['passed'] else 'BREACH':<6} {result['reason']}")
    return 0


def register(subparsers) -> None:
    trade_parser = subparsers.add_parser("trade", help="run the trading cycle: fills, limits, orders")
    trade_parser.add_argument("--broker", choices=BROKERS, help="override QUANT_BROKER (default paper)")
    trade_parser.add_argument(
        "--dry-run", action="store_true", help="show the orders; send and write nothing"
    )
    trade_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    trade_parser.set_defaults(handler=trade)
    orders_parser = subparsers.add_parser("orders", help="orders in the ledger with their newest status")
    orders_parser.add_argument("--status", help="only this status (e.g. filled, rejected) or 'open'")
    orders_parser.add_argument("--json", action="store_true")
    orders_parser.set_defaults(handler=orders)
    risk_parser = subparsers.add_parser("risk", help="today's risk report and risk-limit results")
    risk_parser.add_argument("--json", action="store_true")
    risk_parser.set_defaults(handler=risk)
