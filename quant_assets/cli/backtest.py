"""``quant backtest [PATH...]``: replay the policy out of sample on bar files, with costs and benchmarks.

Without paths it runs on the configured universe's bundled files. Progress goes to stderr, so
``--json`` leaves one JSON document on stdout.
"""

import argparse
import json
import sys
import warnings


def _parse_date(text: str):
    import pandas as pd

    try:
        return pd.Timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from error


def _load_bars(paths: list[str]):
    import pandas as pd

    from quant_assets.cli.data import expand_paths
    from quant_assets.settings import load_settings
    from quant_assets.sources.layouts import read_bar_file

    if paths:
        files = expand_paths(paths)
        if not files:
            raise FileNotFoundError(f"no bar files in {', '.join(paths)}")
    else:
        settings = load_settings()
        files = [settings.data_dir / f"{symbol}_data.csv" for symbol in settings.symbols]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing[:5])}")
    return pd.concat([read_bar_file(f).bars for f in files], ignore_index=True)


def backtest_command(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from quant_assets.cli.models import _clean, _json_default
    from quant_assets.core.backtest import BacktestConfig, run_backtest
    from quant_assets.core.corporate_actions import actions_from_bars, adjust_for_actions
    from quant_assets.core.costs import CostModel
    from quant_assets.core.dataset import model_inputs
    from quant_assets.core.limits import RiskLimitsError, load_risk_limits
    from quant_assets.core.policy import PolicyConfig
    from quant_assets.core.replay import ReplayConfig
    from quant_assets.core.validation import split_valid_bars
    from quant_assets.settings import SPY_FILE, load_settings
    from quant_assets.sources.benchmark import read_benchmark_bars
    from quant_assets.sources.layouts import BarFileError

    settings = load_settings()
    horizon = settings.horizon_days

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        bars = _load_bars(args.paths)
        valid, _ = split_valid_bars(bars)  # prices as traded, then adjusted for recorded splits/dividends
        valid = adjust_for_actions(valid, actions_from_bars(bars))
        inputs = model_inputs(valid, horizon, args.features, args.normalise_features)
        progress(
            f"backtest: {valid['symbol'].nunique()} symbols, {len(valid):,} bars, "
            f"{valid['date'].min().date()}..{valid['date'].max().date()}; features {args.features} "
            f"({len(inputs.feature_names)}), label {args.label}"
        )
        config = BacktestConfig(
            replay=ReplayConfig(
                horizon_days=horizon,
                rebalance_days=args.rebalance_days,
                retrain_days=args.retrain_days,
                start=args.start,
                end=args.end,
                policy=PolicyConfig(max_weight=args.max_weight or settings.max_weight),
                label_transform=None if args.label == "return" else args.label,
                limits=None
                if args.no_risk_limits
                else load_risk_limits(args.risk_limits or settings.risk_limits_file),
            ),
            costs=CostModel(
                commission_bps=args.cost_bps,
                min_commission=args.min_commission,
                slippage_bps=args.slippage_bps,
                impact_coefficient=args.impact,
            ),
            capital=args.capital,
            whole_shares=args.whole_shares,
        )
        spy = read_benchmark_bars(args.benchmark or SPY_FILE)
        report = run_backtest(
            valid, inputs.features, inputs.training_rows, inputs.feature_names, inputs.label,
            config, spy_bars=spy, progress=progress,
        )  # fmt: skip
    except (BarFileError, FileNotFoundError, ValueError, RiskLimitsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_clean(report.to_json()), default=_json_default))
        return 0
    span = report.summary["span"]
    print(
        f"backtest {span['first_decision']}..{span['last_decision']}: {span['decisions']} rebalances, "
        f"{span['models']} models, {span['symbols']} symbols, ${span['capital']:,.0f} start"
    )
    print(report.metrics_table())
    ic = report.ic
    print(
        f"signal: rank IC {ic['rank_ic_mean']:+.3f} (t {ic['rank_ic_tstat']:+.2f}), "
        f"IC {ic['ic_mean']:+.3f} (t {ic['ic_tstat']:+.2f}) over {ic['dates']:.0f} decision dates"
    )
    for warning in report.warnings[:10]:
        print(f"note: {warning}")
    return 0


def register(subparsers) -> None:
    from quant_assets.cli.models import add_model_input_arguments

    parser = subparsers.add_parser(
        "backtest", help="replay the policy out of sample with costs, beside SPY, equal weight and top-k"
    )
    parser.add_argument(
        "paths", nargs="*", help="bar files or folders (default: the configured universe's bundled files)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_model_input_arguments(parser)
    parser.add_argument("--rebalance-days", type=int, default=5, help="market days between rebalances")
    parser.add_argument("--retrain-days", type=int, default=21, help="market days between retrains")
    parser.add_argument("--cost-bps", type=float, default=1.0, help="commission, bps of notional")
    parser.add_argument("--min-commission", type=float, default=0.0, help="dollars per order at least")
    parser.add_argument("--slippage-bps", type=float, default=5.0, help="fill price moves against the order")
    parser.add_argument("--impact", type=float, default=0.0, help="square-root impact coefficient (0: off)")
    parser.add_argument("--start", type=_parse_date, default=None, help="first decision date (YYYY-MM-DD)")
    parser.add_argument("--end", type=_parse_date, default=None, help="last decision date (YYYY-MM-DD)")
    parser.add_argument(
        "--max-weight", type=float, default=None, help="per-name cap (default QUANT_MAX_WEIGHT)"
    )
    parser.add_argument("--capital", type=float, default=1_000_000.0, help="starting cash in dollars")
    parser.add_argument("--whole-shares", action="store_true", help="trade whole shares only")
    parser.add_argument("--benchmark", default=None, help="SPY bar file (default: the bundled SPY.csv)")
    parser.add_argument(
        "--risk-limits", default=None,
        help="risk limits whose drawdown stop, stop-loss and never-trade list the replay applies "
        "(default QUANT_RISK_LIMITS or risk_limits.yaml)",
    )  # fmt: skip
    parser.add_argument(
        "--no-risk-limits", action="store_true", help="replay the policy without the stop rules"
    )
    parser.set_defaults(handler=backtest_command)
