"""The drift sensor asks for retraining on degraded data, not on healthy data, and honours its cooldown."""

import json
import shutil
import time

from dagster import DagsterInstance, build_sensor_context, materialize

from quant_assets.assets.monitoring import model_monitoring
from quant_assets.automation.sensors import DEFAULT_COOLDOWN_SECONDS, drift_sensor, evaluate_drift
from quant_assets.definitions import build_resources


def _monitor(pipeline, lake_dir, instance):
    resources = build_resources(pipeline.settings)
    from quant_assets.resources.lake import LakeIOManager

    resources["io_manager"] = LakeIOManager(base_dir=str(lake_dir))
    return materialize([model_monitoring], resources=resources, instance=instance)


def test_healthy_champion_requests_nothing(pipeline):
    instance = DagsterInstance.ephemeral()
    result = _monitor(pipeline, pipeline.settings.lake_dir, instance)
    assert result.asset_value("model_monitoring")["degraded"] is False
    outcome = drift_sensor(build_sensor_context(instance=instance))
    assert not outcome.run_requests
    assert "healthy" in outcome.skip_reason.skip_message


def test_degraded_data_requests_one_retraining_then_cools_down(pipeline, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(pipeline.settings.lake_dir, lake)
    labels_path = lake / "labels.parquet"
    import pandas as pd

    labels = pd.read_parquet(labels_path)
    label = [c for c in labels.columns if c.startswith("forward_return")][0]
    # A regime change: realised returns three times as volatile and unrelated to the features.
    labels[label] = labels[label].sample(frac=1.0, random_state=1).to_numpy() * 3
    labels.to_parquet(labels_path)

    instance = DagsterInstance.ephemeral()
    report = _monitor(pipeline, lake, instance).asset_value("model_monitoring")
    assert report["degraded"] is True and report["ratio"] > 1.1

    context = build_sensor_context(instance=instance)
    outcome = drift_sensor(context)
    assert len(outcome.run_requests) == 1
    assert outcome.run_requests[0].tags["quant/trigger"] == "drift"

    # Same monitoring event again: nothing new to act on.
    again = drift_sensor(build_sensor_context(instance=instance, cursor=outcome.cursor))
    assert not again.run_requests

    # A new degraded evaluation inside the cooldown: still no second run.
    _monitor(pipeline, lake, instance)
    cooling = evaluate_drift(build_sensor_context(instance=instance, cursor=outcome.cursor),
                             DEFAULT_COOLDOWN_SECONDS, time.time())
    assert not cooling.run_requests and "cooldown" in cooling.skip_reason.skip_message
    # ...and after the cooldown it asks again.
    later = evaluate_drift(build_sensor_context(instance=instance, cursor=outcome.cursor),
                           DEFAULT_COOLDOWN_SECONDS, json.loads(outcome.cursor)["last_request_at"] + DEFAULT_COOLDOWN_SECONDS + 1)
    assert len(later.run_requests) == 1
