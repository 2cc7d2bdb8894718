"""The promotion gate: a challenger replaces the champion only when it is better on the same rows."""

from datetime import timedelta

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, FreshnessPolicy, MetadataValue, asset

from quant_assets.assets.metadata import metrics_table
from quant_assets.core.cross_section import ReturnScale
from quant_assets.core.gate import decide_promotion, label_change_note
from quant_assets.core.labels import label_column
from quant_assets.core.model import predict_returns
from quant_assets.resources.model_registry import CHAMPION, ModelRegistry

# A model older than a month is out of date even if it has not drifted.
MODEL_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=30), warn_window=timedelta(days=8))


class GateConfig(Config):
    """Optional stricter rule: also require a significant Diebold-Mariano test at this level."""

    dm_alpha: float | None = None


@asset(group_name="training", freshness_policy=MODEL_FRESHNESS, kinds={"mlflow"})
def champion_model(
    context: AssetExecutionContext,
    config: GateConfig,
    model_candidate: dict,
    training_set: pd.DataFrame,
    registry: ModelRegistry,
) -> dict:
    """The model that serves, after gating the newest challenger against the current champion.

    Each challenger is judged once: if it already carries a decision (say the run is repeated, or the
    champion was rolled back by hand), the registry's champion is taken as it is. Each model is scored
    on its expected returns (its score through its own ``return_scale``) against the raw label, so a
    challenger that learns another label than the champion is judged by the same rule (``core.gate``).
    """
    challenger_version = str(model_candidate["version"])
    current_version = registry.alias_version(CHAMPION)
    earlier = registry.version_tags(challenger_version).get("gate_decision")
    comparison: dict[str, dict[str, float]] = {"challenger": model_candidate["metrics"]}
    if earlier is not None:
        decision, reason = "unchanged", f"challenger v{challenger_version} was already {earlier}"
    elif current_version is None:
        decision, reason = "promoted", "no champion yet"
    elif missing := sorted(
        set(registry.candidate_record(current_version)["feature_names"]) - set(training_set)
    ):
        # The feature set was changed by configuration (QUANT_FEATURE_SET): the champion's inputs are no
        # longer computed, so it cannot be scored on these rows, nor serve from the online store.
        before = registry.candidate_record(current_version).get("feature_service", "another set")
        after = model_candidate["feature_service"]
        decision = "promoted"
        reason = (
            f"the feature set changed from {before} to {after}: the champion v{current_version} needs "
            f"{len(missing)} features no longer computed ({', '.join(missing[:3])}...)"
        )
    else:
        window = training_set[
            (training_set["date"] >= model_candidate["valid_start"])
            & (training_set["date"] <= model_candidate["valid_end"])
        ]
        label = label_column(model_candidate["horizon_days"])
        champion_record = registry.candidate_record(current_version)

        def expected_returns(version: str, record: dict) -> np.ndarray:
            scores = predict_returns(registry.load_model(version), window[record["feature_names"]])
            return ReturnScale.from_dict(record.get("return_scale")).to_returns(scores)

        gate = decide_promotion(
            window[label].to_numpy(),
            expected_returns(challenger_version, model_candidate),
            expected_returns(current_version, champion_record),
            window["date"].to_numpy(),
            horizon=model_candidate["horizon_days"],
            dm_alpha=config.dm_alpha,
        )
        comparison = {"challenger": gate.challenger, "champion": gate.champion}
        decision = "promoted" if gate.promote else "rejected"
        labels = (champion_record.get("label", "return"), model_candidate.get("label", "return"))
        reason = label_change_note(*labels) + gate.reason
        registry.tag_version(
            challenger_version, {"gate_dm_statistic": gate.dm_statistic, "gate_dm_p_value": gate.dm_p_value}
        )
    if decision != "unchanged":
        registry.tag_version(
            challenger_version,
            {"gate_decision": decision, "gate_reason": reason, "gate_against": current_version or "none"},
        )
    if decision == "promoted":
        registry.promote(challenger_version)
    champion_version = registry.alias_version(CHAMPION)
    context.log.info(
        f"challenger v{challenger_version}: {decision} ({reason}); champion is v{champion_version}"
    )
    record = registry.candidate_record(champion_version)
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
