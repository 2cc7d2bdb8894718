"""Package the champion with its online feature lookup as a BentoML bento."""

import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, asset

from quant_assets.core.cross_section import ReturnScale
from quant_assets.resources.bento_builder import BentoBuilder
from quant_assets.resources.model_registry import ModelRegistry


@asset(group_name="serving", kinds={"bentoml"})
def bento(
    context: AssetExecutionContext, champion_model: dict, registry: ModelRegistry, bentos: BentoBuilder
) -> dict:
    """A bento of ``bentos/service.py`` with the champion's booster and the metadata serving needs."""
    version = champion_model["version"]
    metadata = {
        "model_version": version,
        "mlflow_run_id": champion_model["run_id"],
        "feature_names": champion_model["feature_names"],
        "feature_service": champion_model["feature_service"],
        "horizon_days": champion_model["horizon_days"],
        "label": champion_model.get("label", "return"),
        # a record from before labels were configurable has none: its model learns the raw return
        "return_scale": champion_model.get("return_scale") or ReturnScale().as_dict(),
        "calibration": champion_model["calibration"],
        "valid_rmse": champion_model["metrics"]["rmse"],
        "trained_until": champion_model["train_end"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        booster_file = registry.save_booster(version, Path(tmp) / "booster.ubj")
        tags = bentos.package(booster_file, metadata)
    context.add_output_metadata({**tags, "model_version": version})
    return {**tags, "model_version": version}
