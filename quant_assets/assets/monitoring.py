"""Realised error of the champion on recent labelled data: what the drift sensor watches."""

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, asset

from quant_assets.core.cross_section import ReturnScale
from quant_assets.core.drift import assess_error_drift
from quant_assets.core.labels import label_column
from quant_assets.core.model import predict_returns
from quant_assets.resources.model_registry import ModelRegistry
from quant_assets.resources.platform import PlatformConfig


@asset(group_name="monitoring", automation_condition=AutomationCondition.eager(), kinds={"pandas"})
def model_monitoring(
    context: AssetExecutionContext,
    technical_features: pd.DataFrame,
    labels: pd.DataFrame,
    champion_model: dict,
    registry: ModelRegistry,
    platform: PlatformConfig,
) -> dict:
    """Champion RMSE over the last ``drift_window_days`` labelled dates vs its validation RMSE.

    Like with like: both are the error of the expected return (the model's score through its record's
    ``return_scale``) against the raw realised return, whatever label the champion learns."""
    label = label_column(champion_model["horizon_days"])
    labelled = technical_features.merge(labels, on=["symbol", "date"], how="inner")
    recent_dates = labelled["date"].drop_duplicates().nlargest(platform.drift_window_days)
    recent = labelled[labelled["date"].isin(recent_dates)]
    model = registry.load_model(champion_model["version"])
    drift = assess_error_drift(
        recent[label].to_numpy(),
        ReturnScale.from_dict(champion_model.get("return_scale")).to_returns(
            predict_returns(model, recent[champion_model["feature_names"]])
        ),
        reference_rmse=champion_model["metrics"]["rmse"],
        tolerance=platform.drift_tolerance,
    )
    report = {
        **drift.as_dict(),
        "model_version": champion_model["version"],
        "label": champion_model.get("label", "return"),
        "window_start": str(recent_dates.min().date()),
        "window_end": str(recent_dates.max().date()),
    }
    context.add_output_metadata({k: v for k, v in report.items()})
    if drift.degraded:
        context.log.warning(
            f"champion v{champion_model['version']} degraded: RMSE x{drift.ratio:.2f} of validation"
        )
    return report
