"""The promotion gate: a challenger replaces the champion only when it is better on the same rows."""

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext, FreshnessPolicy, MetadataValue, asset

from quant_assets.assets.metadata import metrics_table
from quant_assets.core.labels import label_column
from quant_assets.core.model import predict_returns, regression_metrics
from quant_assets.resources.model_registry import CHAMPION, ModelRegistry

# A model older than a month is out of date even if it has not drifted.
MODEL_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=30), warn_window=timedelta(days=8))


def challenger_wins(challenger: dict[str, float], champion: dict[str, float]) -> tuple[bool, str]:
    """Default rule: strictly lower RMSE and directional accuracy not worse."""
    if challenger["rmse"] >= champion["rmse"]:
        return False, f"RMSE {challenger['rmse']:.6f} is not below the champion's {champion['rmse']:.6f}"
    if challenger["directional_accuracy"] < champion["directional_accuracy"]:
        return False, (
            f"directional accuracy {challenger['directional_accuracy']:.4f} is below the champion's "
            f"{champion['directional_accuracy']:.4f}"
        )
    return True, f"RMSE {challenger['rmse']:.6f} < {champion['rmse']:.6f} and direction not worse"


@asset(group_name="training", freshness_policy=MODEL_FRESHNESS, kinds={"mlflow"})
def champion_model(
    context: AssetExecutionContext, model_candidate: dict, training_set: pd.DataFrame, registry: ModelRegistry
) -> dict:
    """The model that serves: the challenger if it beats the current champion on the challenger's hold-out."""
    current = registry.version_by_alias(CHAMPION)
    current_version = None if current is None else str(current.version)
    challenger_version = str(model_candidate["version"])
    comparison: dict[str, dict[str, float]] = {"challenger": model_candidate["metrics"]}
    if current_version is None:
        promote, reason = True, "no champion yet"
    elif current_version == challenger_version:
        promote, reason = False, "challenger is already the champion"
    else:
        window = training_set[
            (training_set["date"] >= model_candidate["valid_start"])
            & (training_set["date"] <= model_candidate["valid_end"])
        ]
        label = label_column(model_candidate["horizon_days"])
        champion_features = registry.candidate_record(current_version)["feature_names"]
        champion_predictions = predict_returns(
            registry.load_model(current_version), window[champion_features]
        )
        comparison["champion"] = regression_metrics(
            window[label].to_numpy(), champion_predictions, window["date"].to_numpy()
        )
        promote, reason = challenger_wins(comparison["challenger"], comparison["champion"])

    decision = "promoted" if promote else "rejected"
    registry.tag_version(challenger_version, {"gate_decision": decision, "gate_reason": reason})
    if promote:
        registry.set_alias(CHAMPION, challenger_version)
    champion_version = challenger_version if promote else current_version
    context.log.info(
        f"challenger v{challenger_version} {decision}: {reason}; champion is v{champion_version}"
    )
    record = (
        model_candidate
        if champion_version == challenger_version
        else registry.candidate_record(champion_version)
    )
    context.add_output_metadata(
        {
            "champion_version": champion_version,
            "challenger_version": challenger_version,
            "decision": decision,
            "reason": reason,
            "comparison": MetadataValue.md(metrics_table(comparison)),
        }
    )
    return {
        **record,
        "gate": {"decision": decision, "reason": reason, "challenger_version": challenger_version},
    }
