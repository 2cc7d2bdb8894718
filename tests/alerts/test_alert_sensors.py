"""Each alert sensor, evaluated the way the daemon would on a real instance, sends one alert to the local
webhook receiver for what happened, and nothing on the next tick."""

from __future__ import annotations

import time

import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    materialize,
    op,
)
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from quant_assets.automation.alert_sensors import (
    check_failure_alert_sensor,
    freshness_alert_sensor,
    gate_alert,
    gate_decision_alert_sensor,
    run_failure_alert_sensor,
)
from quant_assets.automation.sensors import drift_sensor


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def _fields(body: dict) -> dict[str, str]:
    """The alert's fields as the receiver sees them in Slack's blocks: ``*name*\\nvalue``."""
    pairs = [f["text"].split("\n", 1) for block in body["blocks"] for f in block.get("fields", [])]
    return {name.strip("*"): value for name, value in pairs}


def _tick(sensor, instance, alerts, cursor: str | None = None):
    """One evaluation, as the sensor daemon runs it: the instance, the cursor, the ``alerts`` resource."""
    with build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": alerts}) as context:
        return sensor(context)


def _header(body: dict) -> str:
    return body["blocks"][0]["text"]["text"]


# -- run failure ---------------------------------------------------------------------------------------------


@op
def fetch_prices():
    raise ValueError("price feed returned no rows for 2026-01-02")


@job
def nightly_prices():
    fetch_prices()


def test_failed_run_sends_one_alert_naming_job_run_and_error(instance, webhook, webhook_alerts):
    result = nightly_prices.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    with build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alerts": webhook_alerts},
    ) as context:
        run_failure_alert_sensor(context.for_run_failure())

    [body] = webhook.bodies
    assert _header(body) == "Run failed: nightly_prices failed in fetch_prices"
    fields = _fields(body)
    assert fields["job"] == "nightly_prices" and fields["run id"] == result.run_id
    assert fields["step fetch_prices"] == "ValueError: price feed returned no rows for 2026-01-02"
    assert "[critical]" in body["text"]


# -- failed blocking check -----------------------------------------------------------------------------------


@asset
def bars() -> list[float]:
    return [101.2, 99.0]


@asset_check(asset=bars, blocking=True, description="high >= close on every bar")
def bars_high_above_close(bars: list[float]) -> AssetCheckResult:
    return AssetCheckResult(passed=False, description="AAPL 2024-03-01: high 101.2 < close 102.0")


@asset_check(asset=bars, description="volume reported (advisory)")
def bars_have_volume(bars: list[float]) -> AssetCheckResult:
    return AssetCheckResult(passed=False, description="no volume column")


@asset
def features(bars: list[float]) -> list[float]:
    return bars


def test_failed_blocking_check_sends_one_alert(instance, webhook, webhook_alerts):
    result = materialize(
        [bars, features, bars_high_above_close, bars_have_volume], instance=instance, raise_on_error=False
    )
    assert not result.success  # the blocking check stopped ``features``
    outcome = _tick(check_failure_alert_sensor, instance, webhook_alerts)

    [body] = webhook.bodies  # the failed non-blocking check is not alerted on
    assert _header(body) == "Check failed: blocking check bars_high_above_close failed on bars"
    assert _fields(body) == {
        "asset": "bars",
        "check": "bars_high_above_close",
        "run id": result.run_id,
        "effect": "downstream steps did not run",
    }
    assert "AAPL 2024-03-01: high 101.2 &lt; close 102.0" in body["blocks"][1]["text"]["text"]
    # The next tick starts after what this one read.
    again = _tick(check_failure_alert_sensor, instance, webhook_alerts, outcome.cursor)
    assert "no failed blocking check" in again.skip_reason.skip_message
    assert len(webhook.bodies) == 1


# -- freshness -----------------------------------------------------------------------------------------------


def _freshness_change(instance, asset: str, previous: FreshnessState, new: FreshnessState, at: float) -> None:
    """Exactly the event Dagster's freshness daemon stores when an asset's freshness state changes."""
    change = FreshnessStateChange(
        key=AssetKey(asset), previous_state=previous, new_state=new, state_change_timestamp=at
    )
    instance.report_runless_asset_event(change)


def test_asset_turning_fail_sends_one_alert(instance, webhook, webhook_alerts):
    instance.report_runless_asset_event(AssetMaterialization("champion_model"))
    now = time.time()
    _freshness_change(instance, "champion_model", FreshnessState.PASS, FreshnessState.WARN, now - 120)
    _freshness_change(instance, "champion_model", FreshnessState.WARN, FreshnessState.FAIL, now - 60)
    _freshness_change(instance, "predictions", FreshnessState.UNKNOWN, FreshnessState.PASS, now - 30)

    outcome = _tick(freshness_alert_sensor, instance, webhook_alerts)

    [body] = webhook.bodies
    assert _header(body) == "Freshness failing: champion_model is failing its freshness policy"
    fields = _fields(body)
    assert fields["asset"] == "champion_model" and fields["state"] == "WARN -&gt; FAIL"
    assert fields["last materialised"] != "never"
    assert (
        "no asset(s) failing"
        in _tick(freshness_alert_sensor, instance, webhook_alerts, outcome.cursor).skip_reason.skip_message
    )

    # Fresh again, then failing again: a new failure, a new alert.
    _freshness_change(instance, "champion_model", FreshnessState.FAIL, FreshnessState.PASS, now - 20)
    _freshness_change(instance, "champion_model", FreshnessState.PASS, FreshnessState.FAIL, now - 10)
    _tick(freshness_alert_sensor, instance, webhook_alerts, outcome.cursor)
    assert len(webhook.bodies) == 2


# -- gate decision -------------------------------------------------------------------------------------------


def test_champion_materialisation_sends_its_gate_decision(pipeline, webhook, webhook_alerts):
    """The real champion_model of the shared pipeline run: its first challenger is promoted."""
    outcome = _tick(gate_decision_alert_sensor, pipeline.instance, webhook_alerts)

    [body] = webhook.bodies
    gate = pipeline.value("champion_model")["gate"]
    version = gate["challenger_version"]
    assert gate["decision"] == "promoted"
    assert _header(body) == f"Gate decision: challenger v{version} promoted: champion is now v{version}"
    assert _fields(body) == {"decision": "promoted", "challenger": f"v{version}", "champion": f"v{version}"}
    assert body["blocks"][1]["text"]["text"] == gate["reason"] == "no champion yet"
    _tick(gate_decision_alert_sensor, pipeline.instance, webhook_alerts, outcome.cursor)
    assert len(webhook.bodies) == 1


def test_gate_alert_reads_rejections_and_repeats():
    rejected = gate_alert(
        {
            "decision": "rejected",
            "challenger_version": "4",
            "champion_version": "3",
            "reason": "RMSE 0.021 >= 0.020",
        },
        storage_id=7,
    )
    assert (
        rejected.title == "challenger v4 rejected: champion stays v3"
        and rejected.text == "RMSE 0.021 >= 0.020"
    )
    unchanged = gate_alert({"decision": "unchanged", "challenger_version": "4", "champion_version": "3"}, 8)
    assert unchanged.title == "challenger v4 unchanged: champion is v3"
    assert rejected.dedupe_key != unchanged.dedupe_key  # one alert per materialisation


# -- drift-triggered retraining ------------------------------------------------------------------------------


def test_drift_retraining_request_sends_the_figures(instance, webhook, webhook_alerts):
    report = {  # what model_monitoring records (assets/monitoring.py)
        "realised_rmse": 0.0312, "reference_rmse": 0.0201, "ratio": 1.552, "tolerance": 0.1,
        "n_observations": 900, "degraded": True, "model_version": "3",
        "window_start": "2018-01-02", "window_end": "2018-03-29",
    }  # fmt: skip
    instance.report_runless_asset_event(AssetMaterialization("model_monitoring", metadata=report))

    outcome = _tick(drift_sensor, instance, webhook_alerts)

    [request] = outcome.run_requests
    [body] = webhook.bodies
    assert _header(body) == "Drift retrain: champion v3 drifted: retraining requested"
    assert _fields(body) == {
        "model version": "v3",
        "RMSE ratio": "1.552",
        "recent RMSE": "0.031200",
        "validation RMSE": "0.020100",
        "window": "2018-01-02 to 2018-03-29",
        "run key": request.run_key,
    }
    assert "tolerance 10%" in body["blocks"][1]["text"]["text"]
