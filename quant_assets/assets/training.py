"""Evaluate walk-forward, train the challenger, log everything to the Dagster run's MLflow run."""

import hashlib
import subprocess

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue, asset
from mlflow.models import infer_signature

from quant_assets.assets import charts
from quant_assets.assets.metadata import metrics_table
from quant_assets.core.confidence import cross_fitted_calibration_report, fit_direction_calibration
from quant_assets.core.dataset import SCALE_WINDOW_DATES, learning_rows
from quant_assets.core.labels import label_column, label_span
from quant_assets.core.metrics import regression_metrics
from quant_assets.core.model import DEFAULT_XGB_PARAMS, feature_importance, model_fingerprint, predict_returns
from quant_assets.core.tuning import TuningConfig, TuningResult, tune_hyperparameters
from quant_assets.core.walk_forward import (
    WalkForwardConfig,
    WalkForwardReport,
    evaluate_walk_forward,
    train_final_model,
)
from quant_assets.resources.feast_store import FeastResource
from quant_assets.resources.model_registry import CHALLENGER, ModelRegistry
from quant_assets.resources.platform import PlatformConfig
from quant_assets.settings import PROJECT_ROOT

CANDIDATE_RECORD = "candidate.json"


class TrainingConfig(Config):
    """Walk-forward settings (see README, "How we evaluate")."""

    n_folds: int = 4
    test_days: int = 63
    scheme: str = "expanding"
    train_days: int = 504
    embargo_days: int = 5
    extra_seeds: list[int] = [7, 2024]  # besides the platform seed, to measure the spread over seeds
    # Hyperparameter search (Optuna) before the evaluation, on dates before every test window; 0 = off.
    tune_seconds: float = 0.0
    tune_trials: int = 50
    tune_validation_days: int = 126


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[
        :16
    ]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def decile_table(out_of_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean realised vs mean predicted return per decile of the prediction: the scatter plot in numbers."""
    deciles = pd.qcut(out_of_fold["predicted"].rank(method="first"), 10, labels=False) + 1
    return (
        out_of_fold.assign(decile=deciles)
        .groupby("decile")
        .agg(mean_predicted=("predicted", "mean"), mean_realised=("realised", "mean"), n=("realised", "size"))
        .round(5)
        .reset_index()
    )


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def _tune(
    context: AssetExecutionContext,
    config: TrainingConfig,
    dataset: pd.DataFrame,
    features: list[str],
    label: str,
    wf_config: WalkForwardConfig,
    seed: int,
) -> TuningResult:
    """The search, each trial a nested MLflow run under the Dagster run's own run, with progress lines."""
    tuning = TuningConfig(
        seconds=config.tune_seconds,
        max_trials=config.tune_trials,
        validation_days=config.tune_validation_days,
        seed=seed,
    )
    context.log.info(
        f"tuning: up to {tuning.max_trials} trials in {tuning.seconds:g} s, before the test windows"
    )
    best = [np.inf]

    def log_trial(trial: dict) -> None:
        best[0] = min(best[0], trial["rmse"])
        parent = mlflow.active_run()  # nested runs go to the process's experiment unless told the parent's
        with mlflow.start_run(
            nested=True,
            run_name=f"tuning-trial-{trial['number']:03d}",
            experiment_id=parent.info.experiment_id if parent else None,
        ):
            mlflow.log_params(trial["params"])
            mlflow.log_metrics({"validation_rmse": trial["rmse"], "seconds": trial["seconds"]})
        context.log.info(
            f"tuning trial {trial['number']}: validation rmse {trial['rmse']:.5f} (best {best[0]:.5f})"
        )

    return tune_hyperparameters(dataset, features, label, wf_config, tuning, on_trial=log_trial)


def _log_report(tracking, report: WalkForwardReport, calibration_report: dict, importance: pd.Series) -> None:
    for fold in report.folds:
        step = int(fold["fold"])
        tracking.log_metrics({f"fold_{k}": v for k, v in _finite(fold["model"]).items()}, step=step)
        for name, values in fold["baselines"].items():
            tracking.log_metrics({f"fold_{name}_{k}": v for k, v in _finite(values).items()}, step=step)
    for name, values in report.summary.items():
        prefix = "wf" if name == "xgboost" else f"wf_baseline_{name}"
        tracking.log_metrics({f"{prefix}_{k}": v for k, v in _finite(values).items()})
    tracking.log_metrics({f"wf_seed_std_{k}": v for k, v in _finite(report.seed_spread).items()})
    tracking.log_metrics(
        _finite(
            {
                "calibration_brier": calibration_report["brier"],
                "calibration_brier_reference": calibration_report["brier_reference"],
            }
        )
    )
    tracking.log_dict(calibration_report, "calibration.json")
    tracking.log_dict({"folds": report.folds, "summary": report.summary}, "walk_forward.json")
    for name, figure in (
        ("predicted_vs_realised.png", charts.predicted_vs_realised(report.out_of_fold)),
        ("feature_importance.png", charts.importance_bars(importance)),
        ("calibration.png", charts.reliability_plot(calibration_report["reliability"])),
    ):
        tracking.log_figure(figure, name)
        plt.close(figure)


# dagster-mlflow's resource is function-style, so this asset takes all its resources by key.
@asset(
    group_name="training",
    required_resource_keys={"mlflow", "feast", "registry", "platform"},
    kinds={"xgboost", "mlflow"},
)
def model_candidate(
    context: AssetExecutionContext, config: TrainingConfig, training_set: pd.DataFrame
) -> dict:
    """Walk-forward evaluation against baselines, then the challenger: the last fold's model.

    The challenger is trained on exactly the last fold's training rows, so the promotion gate can score
    it (and the champion) on that fold's test window, which it has never seen.

    It learns the label chosen by configuration (``platform.label``): the raw forward return, or it
    normalised per date (rank / zscore), in which case the rows are normalised before any fold is cut,
    so the purge uses each date's latest exit. A normalised-label model predicts a score; the record
    carries ``return_scale`` (mean and dispersion of the raw labels in its own training rows), which
    every reader applies so that a prediction is always an expected return over the horizon, and every
    metric here (walk-forward, holdout, calibration) compares that expected return with the raw return.
    """
    feast: FeastResource = context.resources.feast
    registry: ModelRegistry = context.resources.registry
    platform: PlatformConfig = context.resources.platform
    horizon = platform.horizon_days
    label, feature_names, label_choice = label_column(horizon), feast.feature_names, platform.label
    wf_config = WalkForwardConfig(
        purge_days=label_span(horizon),
        n_folds=config.n_folds,
        test_days=config.test_days,
        scheme=config.scheme,
        train_days=config.train_days,
        embargo_days=config.embargo_days,
    )
    seeds = [platform.seed, *[s for s in config.extra_seeds if s != platform.seed]]
    tracking = context.resources.mlflow  # dagster-mlflow: the MLflow run of this Dagster run
    tuned = None
    if config.tune_seconds > 0:
        # the search scores trials on the label the model learns, its folds purged on its exit dates
        tune_rows = learning_rows(training_set, label, label_choice)
        tuned = _tune(context, config, tune_rows, feature_names, label, wf_config, platform.seed)
    params = {**DEFAULT_XGB_PARAMS, **(tuned.best_params if tuned else {})}
    context.log.info(
        f"walk-forward: {config.n_folds} folds x {len(seeds)} seeds, {config.scheme} window, "
        f"label {label_choice}"
    )
    report = evaluate_walk_forward(
        training_set, feature_names, label, wf_config,
        horizon=horizon, seeds=seeds, params=params, label_choice=label_choice,
    )  # fmt: skip
    oof = report.out_of_fold
    # Confidence is fitted on the quantity it is applied to: the expected return (never the raw score)
    # against the realised raw return (core.confidence).
    calibration = fit_direction_calibration(oof["predicted"].to_numpy(), oof["realised"].to_numpy())
    calibration_report = cross_fitted_calibration_report(oof)

    final = train_final_model(
        training_set, feature_names, label, wf_config,
        seed=platform.seed, params=params, label_choice=label_choice,
    )  # fmt: skip
    model, train_rows, test_rows = final.model, final.train_rows, final.test_rows
    train_end = str(train_rows["date"].max().date())
    test_start, test_end = (str(d.date()) for d in (test_rows["date"].min(), test_rows["date"].max()))
    holdout = regression_metrics(
        test_rows[label].to_numpy(), final.predict(test_rows[feature_names]), test_rows["date"].to_numpy()
    )
    importance = feature_importance(model, feature_names)

    try:
        tracking.log_params(
            {
                **params,
                "tuned": tuned is not None,
                "seed": platform.seed,
                "seeds": ",".join(map(str, seeds)),
                "horizon_days": horizon,
                "label": label_choice,
                "label_column": label,
                "label_timing": "open[t+1] -> open[t+1+h]",
                "return_scale_mean": final.scale.mean,
                "return_scale_dispersion": final.scale.dispersion,
                "return_scale_window": final.scale.window or "identity",
                "scheme": config.scheme,
                "n_folds": config.n_folds,
                "test_days": config.test_days,
                "purge_days": wf_config.purge_days,
                "embargo_days": config.embargo_days,
                "feature_service": feast.feature_service_name,
                "features": ",".join(feature_names),
                "train_rows": len(train_rows),
            }
        )
        tracking.log_metrics({f"holdout_{k}": v for k, v in _finite(holdout).items()})
        if tuned is not None:
            summary = tuned.describe()
            tracking.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, int | float)})
            tracking.set_tags({k: v for k, v in summary.items() if isinstance(v, str)})
        tracking.set_tags(
            {
                "dataset_hash": dataset_fingerprint(training_set),
                "git_commit": git_commit(),
                "model_sha256": model_fingerprint(model),
                "feature_service": feast.feature_service_name,
                "label": label_choice,
            }
        )
        _log_report(tracking, report, calibration_report, importance)
        example = train_rows[feature_names].dropna().head(3).astype(np.float32)
        registry.client()  # log_model registers via the process-wide registry URI: make it this platform's
        info = mlflow.xgboost.log_model(
            model,
            name="model",
            registered_model_name=registry.model_name,
            signature=infer_signature(example, predict_returns(model, example)),
            input_example=example,
        )
        version, run_id = str(info.registered_model_version), mlflow.active_run().info.run_id
        record = {
            "version": version,
            "run_id": run_id,
            "metrics": holdout,
            "walk_forward": report.summary,
            "seed_spread": report.seed_spread,
            "folds": report.folds,
            "calibration": calibration.as_dict(),
            "calibration_brier": calibration_report["brier"],
            "feature_names": feature_names,
            "feature_service": feast.feature_service_name,
            "horizon_days": horizon,
            "label": label_choice,  # what the model learns: return, or rank / zscore per date
            # its output (a score) -> expected return over the horizon: mean + dispersion * score
            "return_scale": final.scale.as_dict()
            | ({"window_dates": SCALE_WINDOW_DATES} if label_choice != "return" else {}),
            "train_end": train_end,
            "valid_start": test_start,
            "valid_end": test_end,
            "dataset_hash": dataset_fingerprint(training_set),
            "model_sha256": model_fingerprint(model),
            "params": params,
            "tuning": tuned.describe() if tuned else None,
        }
        tracking.log_dict(record, CANDIDATE_RECORD)
        registry.set_alias(CHALLENGER, version)
        registry.tag_version(
            version,
            {"dataset_hash": record["dataset_hash"], "holdout_rmse": holdout["rmse"], "label": label_choice},
        )
        tracking.end_run()
    except Exception:
        tracking.end_run(status="FAILED")
        raise

    context.add_output_metadata(
        {
            "model_version": version,
            "mlflow_run_id": run_id,
            "holdout": f"{test_start}..{test_end} (trained until {train_end})",
            "label": label_choice,
            "return_scale": MetadataValue.json(record["return_scale"]),
            "holdout_rmse": holdout["rmse"],
            "wf_rmse": report.summary["xgboost"]["rmse"],
            "wf_rank_ic": report.summary["xgboost"]["rank_ic"],
            "params": MetadataValue.json(params),
            **({"tuning": MetadataValue.json(tuned.describe())} if tuned else {}),
            "calibration_brier": calibration_report["brier"],
            "walk_forward": MetadataValue.md(
                metrics_table(
                    {
                        k: {
                            m: v[m]
                            for m in ("rmse", "mae", "mape", "directional_accuracy", "ic", "rank_ic", "icir")
                        }
                        for k, v in report.summary.items()
                    }
                )
            ),
            "folds": MetadataValue.md(
                pd.DataFrame(
                    [
                        {
                            k: v
                            for k, v in f.items()
                            if k not in ("model", "baselines", "model_seed_std", "return_scale")
                        }
                        | {"rmse": f["model"]["rmse"], "rank_ic": f["model"]["rank_ic"]}
                        for f in report.folds
                    ]
                ).to_markdown(index=False)
            ),
            "feature_importance": MetadataValue.md(importance.round(4).to_frame().to_markdown()),
            "predicted_vs_realised_deciles": MetadataValue.md(decile_table(oof).to_markdown(index=False)),
            "reliability": MetadataValue.md(
                pd.DataFrame(calibration_report["reliability"]).to_markdown(index=False)
                if calibration_report["reliability"]
                else "_none_"
            ),
        }
    )
    return record
