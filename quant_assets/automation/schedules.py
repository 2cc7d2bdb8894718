"""Time-based triggers: bars after the US close, a weekly retrain as a floor under the drift sensor."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from quant_assets.automation.jobs import ingestion_job, retrain_job

ingestion_schedule = ScheduleDefinition(
    name="daily_ingestion",
    job=ingestion_job,
    cron_schedule="30 17 * * 1-5",  # 17:30 New York, after the close and the data vendors' settlement
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Ingest the day's bars; eager automation carries them down to predictions and weights.",
)

weekly_retrain_schedule = ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 6 * * 6",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Optional floor: retrain every Saturday even without drift (off by default).",
)
