"""The daily trading cycle starts itself once the day's weights exist (off by default, like weekly_retrain).

Every new materialisation of ``portfolio_weights`` (the daily bars flow down to it eagerly) requests one
``trading_cycle`` run, keyed by that materialisation, so a weights version is traded at most once by the
sensor. Turn it on in the UI (Automation -> trading_cycle_sensor) or with
``dagster sensor start trading_cycle_sensor``.
"""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    SensorEvaluationContext,
    asset_sensor,
)

from quant_assets.automation.jobs import trading_cycle_job


def trading_cycle_request(storage_id: int, event: EventLogEntry) -> RunRequest:
    """One trading run per weights materialisation: the run key makes a repeat evaluation a no-op."""
    return RunRequest(
        run_key=f"trading-after-weights-{storage_id}",
        tags={"quant/trigger": "portfolio_weights", "quant/weights_run": event.run_id},
    )


@asset_sensor(
    asset_key=AssetKey("portfolio_weights"),
    job=trading_cycle_job,
    name="trading_cycle_sensor",
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description="Run the paper trading cycle after each new portfolio_weights (off by default).",
)
def trading_cycle_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
    yield trading_cycle_request(asset_event.storage_id, asset_event)
