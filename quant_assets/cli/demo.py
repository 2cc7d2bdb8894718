"""``quant demo [--fresh]`` materialises the whole asset graph on the configured universe (the bundled
real data by default) in the Dagster instance under ``$QUANT_HOME/dagster`` (so the runs show in the
UI afterwards) and prints a summary.
"""

import os
import shutil
import sys
import time
import warnings

import pandas as pd

from quant_assets.automation.alert_sensors import CHECK_FAILED_ERROR
from quant_assets.core.reporting import walk_forward_table
from quant_assets.settings import HOME_MARKER, PROJECT_ROOT, Settings, load_settings

# The demo's backtest replays the last year only (about 12 models); `quant backtest` and the
# backtest_job replay everything after the first two years.
DEMO_BACKTEST = {"span_days": 252}


def _backtest_lines(report: dict) -> list[str]:
    """Net, gross and the benchmarks in one line each, as the README's table shows them."""
    summary, span = report["summary"], report["summary"]["span"]
    runs = {
        "net": summary["net"],
        "gross": summary["gross"],
        "topk": summary["topk"],
        **summary["benchmarks"],
    }
    cells = ", ".join(
        f"{name} {v['annual_return']:+.1%}/yr Sharpe {v['sharpe']:.2f}" for name, v in runs.items()
    )
    return [
        f"  backtest          {span['first_decision']} .. {span['last_decision']}, {span['decisions']} "
        f"rebalances, {span['models']} models retrained on the past only, costs "
        f"${summary['net']['costs_total']:,.0f}"
        + (
            f", stops {summary['net']['drawdown_stops']} drawdown / "
            f"{summary['net']['stop_loss_exits']} stop-loss"
            if "drawdown_stops" in summary["net"]
            else ""
        ),
        f"    {cells}",
        "    (SPY is price return only; see README, Does it make money?)",
    ]


def _trading_blocked_only(result) -> bool:
    """The run failed only because a trading check (risk limit, reconciliation) blocked the orders."""
    failed = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and not e.event_specific_data.passed]  # fmt: skip
    groups = {e.event_specific_data.asset_key.to_user_string() for e in failed}
    return bool(failed) and groups <= {"trading_account", "trading_targets"}


def _trading_lines(result) -> list[str]:
    """The paper account's first orders, or what blocked them."""
    events = result.all_events
    done = {e.asset_key.to_user_string() for e in events if e.event_type_value == "ASSET_MATERIALIZATION"}
    blocked = [
        f"{e.event_specific_data.check_name}: {e.event_specific_data.description}"
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    if "submitted_orders" not in done:
        return ["  paper account     no orders: " + ("; ".join(blocked) or "the trading cycle did not run")]
    sent = result.asset_value("submitted_orders")
    orders = sent["orders"]
    counts = pd.Series([o["status"] for o in orders], dtype=object).value_counts()
    statuses = ", ".join(f"{n} {s}" for s, n in counts.items())
    first = ", ".join(f"{o['side']} {o['shares']:,} {o['symbol']}" for o in orders[:4])
    return [
        f"  paper account     {len(orders)} orders for {sent['as_of']} ({statuses or 'none'}), "
        f"fill at the next open; equity ${sent['equity']:,.0f}",
        f"    {first}{', ...' if len(orders) > 4 else ''}   (quant orders; daily: quant trade)",
    ]


def prepare_home(settings: Settings, fresh: bool) -> None:
    """Create the state directory; with ``fresh``, empty it first (only if it is one of ours)."""
    home = settings.home
    if fresh and home.exists():
        if not (home / HOME_MARKER).exists():
            raise SystemExit(
                f"refusing to delete {home}: it has no {HOME_MARKER} marker, so it may not be ours"
            )
        shutil.rmtree(home)
    settings.ensure_home()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", settings.dagster_home / "dagster.yaml")


def _run_everything(settings: Settings):
    from dagster import DagsterInstance

    from quant_assets.automation.jobs import add_symbols, range_tags
    from quant_assets.definitions import build_definitions
    from quant_assets.progress import progress_logger
    from quant_assets.run_recovery import host_tags, recover_and_report

    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    job = build_definitions(settings, loggers={"progress": progress_logger}).resolve_job_def("everything_job")
    with DagsterInstance.get() as instance:
        # A demo killed earlier left its run STARTED: mark it failed (one line) before starting this one.
        recover_and_report(instance, settings)
        # One run for the whole graph: every symbol partition (the universe's, plus any landed earlier)
        # is ingested in it, then the unpartitioned layers read them all.
        symbols = add_symbols(instance, settings.symbols)
        if not symbols:
            raise SystemExit("the universe is empty: list at least one symbol in universe.yaml")
        return job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"progress": {}}, "ops": {"backtest": {"config": DEMO_BACKTEST}}},
            raise_on_error=False,
            tags={**host_tags(), **range_tags(symbols[0], symbols[-1])},
        )


def _baseline_note(summary: dict[str, dict[str, float]]) -> list[str]:
    """Say it plainly when the model does not beat the naive forecast."""
    model, zero = summary["xgboost"]["rmse"], summary["zero"]["rmse"]
    if model < zero:
        return [f"    xgboost beats the zero-return forecast on RMSE by {1 - model / zero:.1%}"]
    return [
        f"    note: xgboost does NOT beat the zero-return forecast on RMSE ({model / zero - 1:+.1%}); "
        "see README, How we evaluate"
    ]


def _summary(result, settings: Settings, seconds: float) -> str:
    bars = result.asset_value("validated_bars")
    quarantined = result.asset_value("quarantined_bars")
    champion = result.asset_value("champion_model")
    weights = result.asset_value("portfolio_weights").sort_values("weight", ascending=False)
    bento = result.asset_value("bento")
    backtest = result.asset_value("backtest")
    lines = [
        "",
        f"quant-assets demo: done in {seconds:.0f} s",
        f"  state directory   {settings.home}",
        f"  symbols           {bars['symbol'].nunique()} ({', '.join(sorted(bars['symbol'].unique()))})",
        f"  rows              {len(bars):,} validated, {len(quarantined)} quarantined",
        f"  date range        {bars['date'].min().date()} .. {bars['date'].max().date()}",
        f"  horizon           {champion['horizon_days']} trading days, open[t+1] -> open[t+1+h]",
        f"  walk-forward      {len(champion['folds'])} folds, "
        f"last test window {champion['valid_start']} .. {champion['valid_end']}",
        "  walk-forward metrics, mean±std over folds:",
        walk_forward_table(champion["walk_forward"], champion.get("seed_spread"), indent="    "),
        *_baseline_note(champion["walk_forward"]),
        f"  champion          {champion['gate']['decision']} v{champion['gate']['challenger_version']} -> "
        f"champion is v{champion['version']} ({champion['gate']['reason']})",
        "  top weights       "
        + ", ".join(f"{r.symbol} {r.weight:.1%}" for r in weights.head(5).itertuples()),
        *_backtest_lines(backtest),
        *_trading_lines(result),
        f"  bento             {bento['bento_tag']}   (serve: make serve)",
        "  UI                make dev   (Dagster on http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def demo(fresh: bool) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    settings = load_settings()
    prepare_home(settings, fresh)
    print(
        f"quant-assets: materialising the asset graph for {len(settings.symbols)} symbols "
        f"into {settings.home}",
        flush=True,
    )
    started = time.perf_counter()
    result = _run_everything(settings)
    failed = [
        e.step_key
        for e in result.all_events
        # A risk limit that blocks the paper orders is the trading cycle working, not the demo failing:
        # the summary says which limit stopped them.
        if e.is_step_failure and e.event_specific_data.error.cls_name != CHECK_FAILED_ERROR
    ]
    if failed or not (result.success or _trading_blocked_only(result)):
        checks = [e.event_specific_data.check_name for e in result.all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
        where = f"step(s) {', '.join(failed)}" if failed else f"blocking check(s) {', '.join(checks)}"
        print(f"demo failed in {where}; see the log above", file=sys.stderr)
        return 1
    print(_summary(result, settings, time.perf_counter() - started))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="materialise the whole graph on the embedded defaults")
    parser.add_argument("--fresh", action="store_true", help="start from an empty state directory")
    parser.set_defaults(handler=lambda args: demo(args.fresh))
