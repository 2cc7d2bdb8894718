"""Which forecast is worth backtesting? Feature sets x per-date normalisation x labels, out of sample.

    python benchmarks/forecast_variants.py [--symbols 20|all] [--retrain-days 21] [--variants a,b,...]

Each variant is scored twice on the same bars (the bundled real data): the walk-forward
(``core.walk_forward``, 4 folds of 63 days, one seed; rank IC and its information ratio, comparable across
labels) and the whole backtest (``core.backtest``: the live policy net of costs, top-k, equal weight). The
first row, ``technical_v1 / - / return``, is today's default; a variant becomes the default only if it
wins both out of sample.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from quant_assets.core.backtest import BacktestConfig, run_backtest
from quant_assets.core.dataset import model_inputs
from quant_assets.core.labels import label_span
from quant_assets.core.policy import PolicyConfig
from quant_assets.core.replay import ReplayConfig
from quant_assets.core.validation import split_valid_bars
from quant_assets.core.walk_forward import WalkForwardConfig, evaluate_walk_forward
from quant_assets.settings import BUNDLED_DATA_DIR, DEFAULT_SYMBOLS, SPY_FILE
from quant_assets.sources.benchmark import read_benchmark_bars
from quant_assets.sources.bundled import available_symbols, load_bundled_bars

VARIANTS = {
    "technical_v1/-/return": ("technical_v1", None, "return"),
    "technical_v1/-/rank": ("technical_v1", None, "rank"),
    "technical_v1/rank/rank": ("technical_v1", "rank", "rank"),
    "alpha158/-/return": ("alpha158", None, "return"),
    "alpha158/-/rank": ("alpha158", None, "rank"),
    "alpha158/rank/rank": ("alpha158", "rank", "rank"),
}


def score(valid: pd.DataFrame, spy: pd.DataFrame, variant: tuple, args) -> dict[str, float]:
    features, transform, label_choice = variant
    inputs = model_inputs(valid, 5, features, transform)
    rows = inputs.labelled(label_choice)
    started = time.perf_counter()
    wf = evaluate_walk_forward(
        rows, inputs.feature_names, inputs.label,
        WalkForwardConfig(purge_days=label_span(5), n_folds=4, test_days=63),
        horizon=5, seeds=[42],
    ).summary["xgboost"]  # fmt: skip
    config = BacktestConfig(
        replay=ReplayConfig(
            retrain_days=args.retrain_days,
            policy=PolicyConfig(max_weight=args.max_weight),
            label_transform=None if label_choice == "return" else label_choice,
        )
    )
    report = run_backtest(
        valid, inputs.features, inputs.training_rows, inputs.feature_names, inputs.label, config, spy_bars=spy
    )
    net, topk = report.summary["net"], report.summary["topk"]
    return {
        "wf_rank_ic": wf["rank_ic"],
        "wf_icir": wf["icir"],
        "bt_rank_ic": report.ic["rank_ic_mean"],
        "bt_rank_ic_t": report.ic["rank_ic_tstat"],
        "net_return": net["annual_return"],
        "net_sharpe": net["sharpe"],
        "topk_sharpe": topk["sharpe"],
        "equal_sharpe": report.summary["benchmarks"]["equal_weight"]["sharpe"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", default="20", help="20 (the demo universe) or all (100 bundled names)")
    parser.add_argument("--retrain-days", type=int, default=21)
    parser.add_argument("--max-weight", type=float, default=0.10)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    args = parser.parse_args()
    symbols = available_symbols(BUNDLED_DATA_DIR) if args.symbols == "all" else list(DEFAULT_SYMBOLS)
    valid, _ = split_valid_bars(load_bundled_bars(BUNDLED_DATA_DIR, symbols))
    spy = read_benchmark_bars(SPY_FILE)
    print(f"{len(symbols)} bundled symbols, {len(valid):,} bars; retrain every {args.retrain_days} days")
    rows = {}
    for name in args.variants.split(","):
        rows[name] = score(valid, spy, VARIANTS[name], args)
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[name].items()), flush=True)
    table = pd.DataFrame(rows).T
    print()
    print(table.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
