"""Time-based triggers: bars after the US close, a weekly retrain as a floor under the drift sensor."""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.automation.jobs import ingestion_job, range_tags, retrain_job


def daily_ingestion_request(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """One run over every symbol partition (the schedule's whole point is to refresh all of them)."""
    symbols = context.instance.get_dynamic_partitions(SYMBOLS.name)
    if not symbols:
        return SkipReason("no symbol partitions yet: the universe sensor adds them")
    return RunRequest(
        tags={"quant/trigger": "daily", **range_tags(symbols[0], symbols[-1])},
    )


@schedule(
    name="daily_ingestion",
    job=ingestion_job,
    cron_schedule="30 17 * * 1-5",  # 17:30 New York, after the close and the data vendors' settlement
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Ingest the day's bars for every symbol in one run; eager automation carries them down.",
)
def ingestion_schedule(context: ScheduleEvaluationContext):
    return daily_ingestion_request(context)


weekly_retrain_schedule = ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 6 * * 6",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Optional floor: retrain every Saturday even without drift (off by default).",
)
