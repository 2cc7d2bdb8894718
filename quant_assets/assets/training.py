"""Train a challenger on the Feast training set and log everything to the Dagster run's MLflow run."""

import hashlib

import mlflow
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset
from mlflow.models import infer_signature

from quant_assets.assets.metadata import metrics_table
from quant_assets.core.confidence import fit_direction_calibration
from quant_assets.core.labels import label_column
from quant_assets.core.model import (
    DEFAULT_XGB_PARAMS,
    baseline_predictions,
    holdout_split,
    predict_returns,
    regression_metrics,
    train_regressor,
)
from quant_assets.resources.feast_store import FeastResource
from quant_assets.resources.model_registry import CHALLENGER, ModelRegistry
from quant_assets.resources.platform import PlatformConfig

CANDIDATE_RECORD = "candidate.json"


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[
        :16
    ]


# dagster-mlflow's resource is function-style, so this asset takes all its resources by key.
@asset(
    group_name="training",
    required_resource_keys={"mlflow", "feast", "registry", "platform"},
    kinds={"xgboost", "mlflow"},
)
def model_candidate(context: AssetExecutionContext, training_set: pd.DataFrame) -> dict:
    """XGBoost on the most recent hold-out (purged by the horizon), next to naive baselines."""
    feast: FeastResource = context.resources.feast
    registry: ModelRegistry = context.resources.registry
    platform: PlatformConfig = context.resources.platform
    label = label_column(platform.horizon_days)
    feature_names = feast.feature_names
    split = holdout_split(
        training_set["date"], valid_fraction=platform.valid_fraction, purge_days=platform.horizon_days
    )
    train, valid = training_set[split.train], training_set[split.valid]
    model = train_regressor(train[feature_names], train[label], seed=platform.seed)
    predicted = predict_returns(model, valid[feature_names])
    realised = valid[label].to_numpy()
    metrics = regression_metrics(realised, predicted, valid["date"].to_numpy())
    baselines = {
        name: regression_metrics(realised, p, valid["date"].to_numpy())
        for name, p in baseline_predictions(train[label], len(valid)).items()
    }
    calibration = fit_direction_calibration(predicted, realised)

    tracking = context.resources.mlflow  # dagster-mlflow: the MLflow run of this Dagster run
    try:
        tracking.log_params(
            {
                **DEFAULT_XGB_PARAMS,
                "seed": platform.seed,
                "horizon_days": platform.horizon_days,
                "valid_fraction": platform.valid_fraction,
                "feature_service": feast.feature_service_name,
                "train_rows": len(train),
                "valid_rows": len(valid),
            }
        )
        tracking.log_metrics({f"valid_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        for name, values in baselines.items():
            tracking.log_metrics({f"baseline_{name}_{k}": v for k, v in values.items() if np.isfinite(v)})
        tracking.set_tags(
            {"dataset_hash": dataset_fingerprint(training_set), "feature_service": feast.feature_service_name}
        )
        example = train[feature_names].dropna().head(3).astype(np.float32)
        info = mlflow.xgboost.log_model(
            model,
            name="model",
            registered_model_name=registry.model_name,
            signature=infer_signature(example, predict_returns(model, example)),
            input_example=example,
        )
        version = str(info.registered_model_version)
        run_id = mlflow.active_run().info.run_id
        record = {
            "version": version,
            "run_id": run_id,
            "metrics": metrics,
            "baselines": baselines,
            "calibration": calibration.as_dict(),
            "feature_names": feature_names,
            "feature_service": feast.feature_service_name,
            "horizon_days": platform.horizon_days,
            "train_end": str(split.train_end.date()),
            "valid_start": str(split.valid_start.date()),
            "valid_end": str(split.valid_end.date()),
            "dataset_hash": dataset_fingerprint(training_set),
        }
        tracking.log_dict(record, CANDIDATE_RECORD)
        registry.set_alias(CHALLENGER, version)
        registry.tag_version(version, {"dataset_hash": record["dataset_hash"], "valid_rmse": metrics["rmse"]})
        tracking.end_run()
    except Exception:
        tracking.end_run(status="FAILED")
        raise

    context.add_output_metadata(
        {
            "model_version": version,
            "mlflow_run_id": run_id,
            "valid_rmse": metrics["rmse"],
            "valid_directional_accuracy": metrics["directional_accuracy"],
            "valid_rank_ic": metrics["rank_ic"],
            "holdout": f"{record['valid_start']}..{record['valid_end']} (train until {record['train_end']})",
            "metrics": MetadataValue.md(metrics_table({"xgboost": metrics, **baselines})),
        }
    )
    return record
