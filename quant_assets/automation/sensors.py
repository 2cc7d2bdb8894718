"""The drift sensor: ask for a retraining run when the champion's recent error has degraded, and say so.

The figures behind a request travel as the run's tags (visible on the run in the UI) and in a
``drift_retrain`` alert built from the same request.
"""

import json
import time

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from quant_assets.alerts import Alert
from quant_assets.automation.jobs import retrain_job
from quant_assets.resources.alerts import AlertsResource

MONITORING_KEY = AssetKey("model_monitoring")
DEFAULT_COOLDOWN_SECONDS = 6 * 60 * 60


def evaluate_drift(context: SensorEvaluationContext, cooldown_seconds: float, now: float) -> SensorResult:
    """Pure decision over the newest ``model_monitoring`` materialization and the cursor's last request."""
    records = context.instance.fetch_materializations(MONITORING_KEY, limit=1).records
    if not records or records[0].asset_materialization is None:
        return SensorResult(skip_reason=SkipReason("model_monitoring has never been materialised"))
    event = records[0]
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("storage_id") == event.storage_id:
        return SensorResult(skip_reason=SkipReason(f"already evaluated monitoring event {event.storage_id}"))
    new_cursor = {**cursor, "storage_id": event.storage_id}
    if not metadata.get("degraded"):
        return SensorResult(
            skip_reason=SkipReason(
                f"healthy: recent RMSE {metadata.get('realised_rmse'):.6f} is "
                f"x{metadata.get('ratio'):.2f} of validation"
            ),
            cursor=json.dumps(new_cursor),
        )
    since_last = now - cursor.get("last_request_at", 0.0)
    if since_last < cooldown_seconds:
        return SensorResult(
            skip_reason=SkipReason(
                f"degraded (x{metadata.get('ratio'):.2f}) but in cooldown for "
                f"{cooldown_seconds - since_last:.0f} s more"
            ),
            cursor=json.dumps(new_cursor),
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"drift-{event.storage_id}",
                tags={
                    "quant/trigger": "drift",
                    "quant/rmse_ratio": f"{metadata.get('ratio'):.3f}",
                    "quant/realised_rmse": f"{metadata.get('realised_rmse'):.6f}",
                    "quant/reference_rmse": f"{metadata.get('reference_rmse'):.6f}",
                    "quant/tolerance": f"{metadata.get('tolerance')}",
                    "quant/model_version": str(metadata.get("model_version")),
                    "quant/drift_window": f"{metadata.get('window_start')} to {metadata.get('window_end')}",
                },
            )
        ],
        cursor=json.dumps({**new_cursor, "last_request_at": now}),
    )


@sensor(
    job=retrain_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Retrain when the champion's recent RMSE exceeds its validation RMSE by the tolerance.",
)
def drift_sensor(context: SensorEvaluationContext, alerts: AlertsResource):
    result = evaluate_drift(context, DEFAULT_COOLDOWN_SECONDS, time.time())
    for request in result.run_requests or []:
        alerts.send(drift_retrain_alert(request))
    return result


def drift_retrain_alert(request: RunRequest) -> Alert:
    """The retraining request in words, from the figures ``evaluate_drift`` put in its tags."""
    tags = request.tags
    return Alert(
        kind="drift_retrain",
        title=f"champion v{tags['quant/model_version']} drifted: retraining requested",
        text=(
            f"Recent RMSE {tags['quant/realised_rmse']} is x{tags['quant/rmse_ratio']} the validation RMSE "
            f"{tags['quant/reference_rmse']} (tolerance {float(tags['quant/tolerance']):.0%}); "
            f"{retrain_job.name} was requested."
        ),
        fields={
            "model version": f"v{tags['quant/model_version']}",
            "RMSE ratio": tags["quant/rmse_ratio"],
            "recent RMSE": tags["quant/realised_rmse"],
            "validation RMSE": tags["quant/reference_rmse"],
            "window": tags["quant/drift_window"],
            "run key": request.run_key or "",
        },
        dedupe_key=f"drift_retrain:{request.run_key}",
    )
