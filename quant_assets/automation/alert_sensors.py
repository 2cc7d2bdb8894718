"""Sensors that turn what Dagster records into alerts: failed runs, failed blocking checks, assets failing
their freshness policy, and each gate decision on ``champion_model``.

The three event sensors keep a compact cursor (the newest storage id they have read, a high-water mark). A
first tick, with no cursor yet, looks back one hour rather than over the whole history. Each alert has a
dedupe key made of what identifies the event, so a tick that fails half way and is retried does not send
twice (the notifier's dedupe window holds it back).

Freshness: Dagster's freshness daemon (on by default since 1.12) evaluates every asset's
``FreshnessPolicy`` and stores a ``FRESHNESS_STATE_CHANGE`` event whenever an asset's state changes; the
sensor alerts on every change into ``FAIL``. Asset *health* (which also folds in freshness) is only
queryable on Dagster+, so it is not used here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogRecord,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from quant_assets.alerts import Alert
from quant_assets.alerts.render import timestamp
from quant_assets.progress import root_cause
from quant_assets.resources.alerts import AlertsResource

CHAMPION_KEY = AssetKey("champion_model")
# A check that alerts itself (risk limits: risk_limit_breach, reconciliation) records the kind it sent
# under this metadata key; the generic check_failed and run_failed alerts then stay quiet about it, so one
# breach is one alert.
ALERTED_AS = "alerted_as"
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
LOOKBACK_SECONDS = 60 * 60  # how far back a sensor's first tick looks
BATCH = 500  # events read per tick; the cursor carries on from the last one
_SHOWN = 10  # partitions named in one alert


# -- pure: events to alerts ----------------------------------------------------------------------------


def run_failed_alert(job_name: str, run_id: str, step_errors: dict[str, str], run_message: str) -> Alert:
    """One alert per failed run; the same job failing with the same error is one alert per dedupe window."""
    first_error = next(iter(step_errors.values()), run_message)
    fields = {"job": job_name, "run id": run_id}
    fields.update({f"step {step}": error.splitlines()[0][:300] for step, error in step_errors.items()})
    text = "\n".join(f"{step}: {error}" for step, error in step_errors.items()) or run_message
    return Alert(
        kind="run_failed",
        title=f"{job_name} failed" + (f" in {', '.join(step_errors)}" if step_errors else ""),
        text=text,
        fields=fields,
        dedupe_key=f"run_failed:{job_name}:{first_error.splitlines()[0][:200] if first_error else ''}",
    )


def check_failed_alerts(records: Sequence[EventLogRecord]) -> list[Alert]:
    """Failed blocking checks, one alert per check and run, naming the failed partitions (symbols)."""
    failed: dict[tuple[str, str, str], list] = defaultdict(list)
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or not evaluation.blocking:
            continue
        if ALERTED_AS in evaluation.metadata:  # the check sent its own, more specific alert
            continue
        failed[(evaluation.asset_key.to_user_string(), evaluation.check_name, record.run_id)].append(
            evaluation
        )
    alerts = []
    for (asset, check, run_id), evaluations in failed.items():
        partitions = sorted(e.partition for e in evaluations if e.partition)
        blocked = any(e.severity.value == "ERROR" for e in evaluations)
        descriptions = list(dict.fromkeys(e.description for e in evaluations if e.description))
        shown = ", ".join(partitions[:_SHOWN]) + (
            f" and {len(partitions) - _SHOWN} more" if len(partitions) > _SHOWN else ""
        )
        fields = {"asset": asset, "check": check, "run id": run_id or "(reported outside a run)"}
        if partitions:
            fields["failed partitions"] = f"{len(partitions)}: {shown}"
        fields["effect"] = "downstream steps did not run" if blocked else "severity WARN: nothing was blocked"
        alerts.append(
            Alert(
                kind="check_failed",
                title=f"blocking check {check} failed on {asset}"
                + (f" ({len(partitions)} partitions)" if partitions else ""),
                text="\n".join(descriptions[:_SHOWN]) or f"{check} did not pass",
                severity="critical" if blocked else "warning",
                fields=fields,
                dedupe_key=f"check_failed:{asset}:{check}:{_digest(partitions)}",
            )
        )
    return alerts


def freshness_alert(
    key: AssetKey, previous_state: str, since: float, last_materialised: float | None
) -> Alert:
    asset = key.to_user_string()
    return Alert(
        kind="freshness_failing",
        title=f"{asset} is failing its freshness policy",
        text=f"{asset} has not been materialised within its freshness policy's fail window.",
        fields={
            "asset": asset,
            "state": f"{previous_state} -> FAIL",
            "since": timestamp(since),
            "last materialised": timestamp(last_materialised) if last_materialised else "never",
        },
        dedupe_key=f"freshness_failing:{asset}:{since}",
    )


def gate_alert(metadata: dict[str, object], storage_id: int) -> Alert:
    """What the promotion gate decided (see assets/registry.py's ``champion_model`` metadata)."""
    decision, challenger, champion = (
        metadata["decision"],
        metadata["challenger_version"],
        metadata["champion_version"],
    )
    title = {
        "promoted": f"challenger v{challenger} promoted: champion is now v{champion}",
        "rejected": f"challenger v{challenger} rejected: champion stays v{champion}",
    }.get(str(decision), f"challenger v{challenger} {decision}: champion is v{champion}")
    return Alert(
        kind="gate_decision",
        title=title,
        text=str(metadata.get("reason", "")),
        fields={"decision": str(decision), "challenger": f"v{challenger}", "champion": f"v{champion}"},
        dedupe_key=f"gate_decision:{storage_id}",
    )


def _digest(items: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


# -- reading the event log -----------------------------------------------------------------------------


def _after(context: SensorEvaluationContext) -> int | None:
    return json.loads(context.cursor)["storage_id"] if context.cursor else None


def new_events(
    instance: DagsterInstance, event_type: DagsterEventType, after: int | None
) -> list[EventLogRecord]:
    """Events of one type stored after storage id ``after`` (None: in the last hour), oldest first.

    ``get_event_records`` is the only public reader of check evaluations and freshness changes by storage
    id in Dagster 1.13 (deprecated for 2.0, without a replacement yet for these event types).
    """
    if after is None:
        records_filter = EventRecordsFilter(event_type, after_timestamp=time.time() - LOOKBACK_SECONDS)
    else:
        records_filter = EventRecordsFilter(event_type, after_cursor=after)
    return list(instance.get_event_records(records_filter, limit=BATCH, ascending=True))


def _result(sent: int, what: str, records: Sequence[EventLogRecord], after: int | None) -> SensorResult:
    cursor = json.dumps({"storage_id": records[-1].storage_id if records else after})
    if after is None and not records:
        cursor = None  # first tick with nothing to read: keep looking back an hour until something arrives
    if not sent:
        return SensorResult(skip_reason=SkipReason(f"{len(records)} new event(s), no {what}"), cursor=cursor)
    return SensorResult(skip_reason=SkipReason(f"alerted on {sent} {what}"), cursor=cursor)


def evaluate_check_failures(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    after = _after(context)
    records = new_events(context.instance, DagsterEventType.ASSET_CHECK_EVALUATION, after)
    found = check_failed_alerts(records)
    for alert in found:
        alerts.send(alert)
    return _result(len(found), "failed blocking check(s)", records, after)


def evaluate_freshness(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    after = _after(context)
    records = new_events(context.instance, DagsterEventType.FRESHNESS_STATE_CHANGE, after)
    sent = 0
    for record in records:
        change = record.event_log_entry.dagster_event.event_specific_data
        if change.new_state != "FAIL":
            continue
        latest = context.instance.get_latest_materialization_event(change.key)
        alerts.send(
            freshness_alert(
                change.key,
                str(change.previous_state.value),
                change.state_change_timestamp,
                latest.timestamp if latest else None,
            )
        )
        sent += 1
    return _result(sent, "asset(s) failing freshness", records, after)


def evaluate_gate_decisions(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    after = _after(context)
    if after is None:
        records_filter = AssetRecordsFilter(CHAMPION_KEY, after_timestamp=time.time() - LOOKBACK_SECONDS)
    else:
        records_filter = AssetRecordsFilter(CHAMPION_KEY, after_storage_id=after)
    records = list(
        context.instance.fetch_materializations(records_filter, limit=BATCH, ascending=True).records
    )
    for record in records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        alerts.send(gate_alert(metadata, record.storage_id))
    return _result(len(records), "gate decision(s)", records, after)


# -- sensors -------------------------------------------------------------------------------------------


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Alert (run_failed) when a run of this code location fails, with the failed steps' errors.",
)
def run_failure_alert_sensor(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
    failures = context.get_step_failure_events()
    # Steps stopped by a failed blocking check are the check sensor's (or the check's own) alert.
    real = [e for e in failures if e.event_specific_data.error.cls_name != CHECK_FAILED_ERROR]
    if failures and not real:
        return
    step_errors = {event.step_key or "?": root_cause(event.event_specific_data.error) for event in real}
    run = context.dagster_run
    alerts.send(run_failed_alert(run.job_name, run.run_id, step_errors, context.failure_event.message or ""))


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alert (check_failed) when a blocking asset check fails, naming the failed partitions.",
)
def check_failure_alert_sensor(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    return evaluate_check_failures(context, alerts)


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alert (freshness_failing) when the freshness daemon marks an asset FAIL.",
)
def freshness_alert_sensor(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    return evaluate_freshness(context, alerts)


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alert (gate_decision) each time champion_model is materialised, with the decision.",
)
def gate_decision_alert_sensor(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    return evaluate_gate_decisions(context, alerts)


ALERT_SENSORS = (
    run_failure_alert_sensor,
    check_failure_alert_sensor,
    freshness_alert_sensor,
    gate_decision_alert_sensor,
)
