"""Model commands: ``quant train`` (evaluate on files), ``quant status``, ``quant rollback``."""

import argparse
import json
import sys
import warnings

import numpy as np
import pandas as pd

from quant_assets.core.dataset import LABEL_CHOICES, model_inputs
from quant_assets.core.feature_sets import FEATURE_SETS
from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column, label_span
from quant_assets.core.model import DEFAULT_XGB_PARAMS
from quant_assets.core.reporting import walk_forward_table
from quant_assets.core.schemas import BAR_COLUMNS
from quant_assets.core.tuning import TuningConfig, tune_hyperparameters
from quant_assets.core.validation import split_valid_bars
from quant_assets.core.walk_forward import WalkForwardConfig, evaluate_walk_forward, final_fold
from quant_assets.settings import MODEL_NAME, load_settings


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")


def _json_default(value: object) -> object:
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return str(value)


def _clean(value: object) -> object:
    """NaN -> None recursively, so ``--json`` output is strict JSON."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def add_model_input_arguments(parser: argparse.ArgumentParser) -> None:
    """--features, --normalise-features and --label: the model variants `train` and `backtest` compare."""
    parser.add_argument(
        "--features",
        default="technical_v1",
        choices=sorted(FEATURE_SETS),
        help="feature set (default technical_v1)",
    )
    parser.add_argument(
        "--normalise-features", choices=("rank", "zscore"), default=None, help="normalise features per date"
    )
    parser.add_argument(
        "--label", choices=LABEL_CHOICES, default="return",
        help="the raw forward return (default), or it normalised per date (rank: Qlib's CSRankNorm)",
    )  # fmt: skip


def train(args: argparse.Namespace) -> int:
    _quiet()
    from quant_assets.sources.layouts import BarFileError, read_bar_file

    settings = load_settings()
    horizon = args.horizon or settings.horizon_days
    try:
        bars = pd.concat([read_bar_file(p).bars[list(BAR_COLUMNS)] for p in args.paths], ignore_index=True)
    except BarFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.register and (
        args.features != "technical_v1" or args.normalise_features or args.label != "return"
    ):
        print(
            "error: --register serves the model through the technical_v1 Feast features and raw-return "
            "labels; drop --features/--normalise-features/--label to register",
            file=sys.stderr,
        )
        return 2
    valid, quarantined = split_valid_bars(bars)
    try:
        inputs = model_inputs(valid, horizon, args.features, args.normalise_features)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dataset, feature_names = inputs.labelled(args.label), inputs.feature_names
    config = WalkForwardConfig(
        purge_days=label_span(horizon),
        n_folds=args.folds,
        test_days=args.test_days,
        scheme=args.scheme,
        embargo_days=args.embargo_days,
    )
    seeds = [args.seed, *[s for s in (7, 2024) if s != args.seed]][: args.n_seeds]
    label, tuned = label_column(horizon), None
    try:
        if args.tune > 0:
            tuned = tune_hyperparameters(
                dataset, feature_names, label, config,
                TuningConfig(seconds=args.tune, max_trials=args.tune_trials, seed=args.seed),
                on_trial=lambda t: print(  # progress on stderr, so --json stays one document on stdout
                    f"tuning trial {t['number']}: validation rmse {t['rmse']:.5f} ({t['seconds']:.1f} s)",
                    file=sys.stderr, flush=True,
                ),
            )  # fmt: skip
        params = {**DEFAULT_XGB_PARAMS, **(tuned.best_params if tuned else {})}
        report = evaluate_walk_forward(
            dataset, feature_names, label, config, horizon=horizon, seeds=seeds, params=params
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = {
        "files": [str(p) for p in args.paths],
        "symbols": sorted(dataset["symbol"].unique().tolist()),
        "rows": len(dataset),
        "quarantined": len(quarantined),
        "horizon_days": horizon,
        "label_timing": "open[t+1] -> open[t+1+h]",
        "features": args.features,
        "feature_normalisation": args.normalise_features,
        "label": args.label,
        "scheme": args.scheme,
        "seeds": seeds,
        "folds": report.folds,
        "summary": report.summary,
        "seed_spread": report.seed_spread,
        "params": params,
        "tuning": tuned.describe() if tuned else None,
    }
    if args.register:
        result["registered"] = _register(dataset, horizon, report, args.seed, params, config)
    if args.json:
        print(json.dumps(_clean(result), default=_json_default))
        return 0
    print(
        f"{len(result['symbols'])} symbols, {len(dataset):,} labelled rows "
        f"({len(quarantined)} bars quarantined); "
        f"horizon {horizon} days, label open[t+1] -> open[t+1+h]"
    )
    for fold in report.folds:
        print(
            f"  fold {fold['fold']}: train {fold['train']} ({fold['n_train']:,} rows), test {fold['test']} "
            f"({fold['n_test']:,}): rmse {fold['model']['rmse']:.5f}, rank_ic {fold['model']['rank_ic']:+.3f}"
        )
    if tuned:
        print(
            f"tuned on {tuned.train_dates[0]}..{tuned.validation_dates[1]} (before every test window): "
            f"{len(tuned.trials)} trials, validation rmse {tuned.best_rmse:.5f} vs defaults "
            f"{tuned.default_rmse:.5f}; params {json.dumps(tuned.best_params, default=_json_default)}"
        )
    print("walk-forward, mean±std over folds:")
    print(walk_forward_table(report.summary, report.seed_spread, indent="  "))
    if args.register:
        print(
            f"registered {MODEL_NAME} v{result['registered']['version']} as challenger "
            f"(run {result['registered']['run_id']})"
        )
    return 0


def _register(
    dataset: pd.DataFrame, horizon: int, report, seed: int, params: dict, config: WalkForwardConfig
) -> dict[str, str]:
    """Log the last fold's model to MLflow and make it the challenger (the gate decides promotion)."""
    import mlflow

    from quant_assets.core.model import model_fingerprint, train_regressor
    from quant_assets.resources.mlflow_tracking import ensure_experiment
    from quant_assets.resources.model_registry import CHALLENGER, ModelRegistry

    settings = load_settings()
    settings.ensure_home()
    registry = ModelRegistry(tracking_uri=settings.mlflow_tracking_uri, model_name=MODEL_NAME)
    registry.client()
    experiment = ensure_experiment(
        settings.mlflow_tracking_uri, "quant-assets", settings.mlflow_artifact_root
    )
    rows, _ = final_fold(dataset, config)
    model = train_regressor(
        rows[list(FEATURE_COLUMNS)], rows[label_column(horizon)], seed=seed, params=params
    )
    with mlflow.start_run(experiment_id=experiment, run_name="quant train") as run:
        mlflow.log_params({**params, "horizon_days": horizon, "seed": seed, "source": "quant train"})
        mlflow.log_metrics({f"wf_{k}": v for k, v in report.summary["xgboost"].items() if np.isfinite(v)})
        mlflow.set_tag("model_sha256", model_fingerprint(model))
        info = mlflow.xgboost.log_model(model, name="model", registered_model_name=MODEL_NAME)
    version = str(info.registered_model_version)
    registry.set_alias(CHALLENGER, version)
    return {"version": version, "run_id": run.info.run_id}


def _status_payload() -> dict[str, object]:
    from quant_assets.resources.model_registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ModelRegistry

    settings = load_settings()
    registry = ModelRegistry(tracking_uri=settings.mlflow_tracking_uri, model_name=MODEL_NAME)
    payload: dict[str, object] = {"model": MODEL_NAME, "tracking_uri": settings.mlflow_tracking_uri}
    for alias in (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION):
        version = registry.alias_version(alias)
        if version is None:
            payload[alias] = None
            continue
        tags = registry.version_tags(version)
        entry: dict[str, object] = {
            "version": version,
            **{k: v for k, v in tags.items() if k.startswith("gate_")},
        }
        try:
            record = registry.candidate_record(version)
            entry.update(
                holdout=record.get("metrics"),
                walk_forward=record.get("walk_forward", {}).get("xgboost"),
                trained_until=record.get("train_end"),
            )
        except Exception:  # noqa: BLE001 - a version registered by `quant train` has no pipeline record
            pass
        payload[alias] = entry
    return payload


def status(args: argparse.Namespace) -> int:
    _quiet()
    payload = _status_payload()
    if args.json:
        print(json.dumps(_clean(payload), default=_json_default))
        return 0
    if payload["champion"] is None and payload["challenger"] is None:
        print(f"no {MODEL_NAME} model registered at {payload['tracking_uri']} yet; run `make demo`")
        return 0
    for alias in ("champion", "challenger", "previous_champion"):
        entry = payload[alias]
        if entry is None:
            print(f"{alias:<18} -")
            continue
        holdout = entry.get("holdout") or {}
        print(
            f"{alias:<18} v{entry['version']}  holdout rmse {holdout.get('rmse', float('nan')):.5f}  "
            f"direction {holdout.get('directional_accuracy', float('nan')):.3f}  "
            f"trained until {entry.get('trained_until', '?')}"
        )
    challenger = payload["challenger"] or {}
    if "gate_decision" in challenger:
        print(
            f"last decision      v{challenger['version']} {challenger['gate_decision']}: "
            f"{challenger['gate_reason']}"
        )
    return 0


def rollback(args: argparse.Namespace) -> int:
    """Restore the previous champion, then refresh what depends on it (bento, predictions, weights)."""
    _quiet()
    from dagster import AssetSelection

    from quant_assets.definitions import build_definitions, build_resources
    from quant_assets.instance import dagster_instance

    settings = load_settings()
    resources = build_resources(settings)
    try:
        demoted, restored = resources["registry"].rollback()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"champion is v{restored} again (v{demoted} demoted); rebuilding serving and portfolio...")
    defs = build_definitions(settings)
    # Serving and the portfolio follow the restored champion; orders wait for the next trading cycle.
    downstream = (
        AssetSelection.assets("champion_model").downstream() - AssetSelection.groups("trading")
    ).resolve(defs.resolve_asset_graph())
    with dagster_instance(settings) as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=list(downstream), raise_on_error=False
        )
    if not result.success:
        print(
            "error: the aliases moved but rebuilding downstream assets failed; see the Dagster UI",
            file=sys.stderr,
        )
        return 1
    print(f"bento {result.asset_value('bento')['bento_tag']} serves v{restored}")
    return 0


def register(subparsers) -> None:
    train_parser = subparsers.add_parser("train", help="walk-forward evaluation of the model on OHLCV files")
    train_parser.add_argument(
        "paths", nargs="+", help="CSV/Parquet files in any layout `quant validate` accepts"
    )
    train_parser.add_argument("--json", action="store_true", help="machine-readable report")
    train_parser.add_argument(
        "--register", action="store_true", help="log to MLflow and register as challenger"
    )
    train_parser.add_argument(
        "--horizon", type=int, default=None, help="trading days (default QUANT_HORIZON_DAYS)"
    )
    add_model_input_arguments(train_parser)
    train_parser.add_argument("--folds", type=int, default=4)
    train_parser.add_argument("--test-days", type=int, default=63)
    train_parser.add_argument("--embargo-days", type=int, default=5)
    train_parser.add_argument("--scheme", choices=("expanding", "rolling"), default="expanding")
    train_parser.add_argument("--seed", type=int, default=42)
    train_parser.add_argument("--n-seeds", type=int, default=3, help="seeds for the spread (first is --seed)")
    train_parser.add_argument(
        "--tune",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="search hyperparameters (Optuna) for up to SECONDS first, on dates before every test window",
    )
    train_parser.add_argument(
        "--tune-trials", type=int, default=50, help="most trials of --tune (fix it for repeatable runs)"
    )  # fmt: skip
    train_parser.set_defaults(handler=train)
    status_parser = subparsers.add_parser("status", help="champion, challenger and the last gate decision")
    status_parser.add_argument("--json", action="store_true")
    status_parser.set_defaults(handler=status)
    rollback_parser = subparsers.add_parser("rollback", help="restore the previous champion")
    rollback_parser.set_defaults(handler=rollback)
