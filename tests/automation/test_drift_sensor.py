"""The drift sensor asks for retraining on degraded data, not on healthy data, and honours its cooldown;
each request it makes is also a ``drift_retrain`` alert."""

import json
import shutil
import time

import pandas as pd
from dagster import DagsterInstance, build_sensor_context, load_assets_from_modules, materialize

from quant_assets.assets.monitoring import model_monitoring
from quant_assets.automation.sensors import DEFAULT_COOLDOWN_SECONDS, drift_sensor, evaluate_drift
from quant_assets.definitions import ASSET_MODULES, build_resources
from quant_assets.resources.alerts import AlertsResource
from quant_assets.resources.lake import LakeIOManager


def _monitor(pipeline, lake_dir, instance):
    """Materialise only model_monitoring; its inputs are read from ``lake_dir``."""
    resources = {**build_resources(pipeline.settings), "io_manager": LakeIOManager(base_dir=str(lake_dir))}
    return materialize(
        load_assets_from_modules(ASSET_MODULES),
        selection=[model_monitoring.key],
        resources=resources,
        instance=instance,
    )


def _tick(instance, alerts: AlertsResource, cursor: str | None = None):
    with build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": alerts}) as context:
        return drift_sensor(context)


def test_healthy_champion_requests_nothing(pipeline, tmp_path):
    alerts = AlertsResource(state_path=str(tmp_path / "alerts.db"))  # no channel: logged and recorded
    instance = DagsterInstance.ephemeral()
    result = _monitor(pipeline, pipeline.settings.lake_dir, instance)
    assert result.asset_value("model_monitoring")["degraded"] is False
    outcome = _tick(instance, alerts)
    assert not outcome.run_requests
    assert "healthy" in outcome.skip_reason.skip_message
    assert alerts.history() == []


def test_degraded_data_requests_one_retraining_then_cools_down(pipeline, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(pipeline.settings.lake_dir, lake)
    labels_path = lake / "labels.parquet"
    labels = pd.read_parquet(labels_path)
    label = [c for c in labels.columns if c.startswith("forward_return")][0]
    # A regime change: realised returns three times as volatile and unrelated to the features.
    labels[label] = labels[label].sample(frac=1.0, random_state=1).to_numpy() * 3
    labels.to_parquet(labels_path)

    instance = DagsterInstance.ephemeral()
    report = _monitor(pipeline, lake, instance).asset_value("model_monitoring")
    assert report["degraded"] is True and report["ratio"] > 1.1

    alerts = AlertsResource(state_path=str(tmp_path / "alerts.db"))
    outcome = _tick(instance, alerts)
    assert len(outcome.run_requests) == 1
    assert outcome.run_requests[0].tags["quant/trigger"] == "drift"
    [sent] = alerts.history()
    assert sent.alert.kind == "drift_retrain" and sent.status == "logged"
    assert sent.alert.fields["RMSE ratio"] == f"{report['ratio']:.3f}"
    assert sent.alert.fields["model version"] == f"v{report['model_version']}"

    # Same monitoring event again: nothing new to act on, nothing new to say.
    again = _tick(instance, alerts, outcome.cursor)
    assert not again.run_requests
    assert len(alerts.history()) == 1

    # A new degraded evaluation inside the cooldown: still no second run.
    _monitor(pipeline, lake, instance)
    cooling = evaluate_drift(
        build_sensor_context(instance=instance, cursor=outcome.cursor), DEFAULT_COOLDOWN_SECONDS, time.time()
    )
    assert not cooling.run_requests and "cooldown" in cooling.skip_reason.skip_message
    # ...and after the cooldown it asks again.
    later = evaluate_drift(
        build_sensor_context(instance=instance, cursor=outcome.cursor),
        DEFAULT_COOLDOWN_SECONDS,
        json.loads(outcome.cursor)["last_request_at"] + DEFAULT_COOLDOWN_SECONDS + 1,
    )
    assert len(later.run_requests) == 1
