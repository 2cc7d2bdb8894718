"""The private Dagster and pandas names in quant_assets/framework_internals.py still mean what we use
them for: a release that changes one fails here, by name."""

import io

import pandas as pd
from dagster import AssetCheckResult, Definitions, asset, asset_check, define_asset_job

from quant_assets import progress
from quant_assets.automation.jobs import range_tags
from quant_assets.framework_internals import (
    STR_NA_VALUES,
    AssetCheckExecutionRecordStatus,
    CheckRunHealthResult,
    WorkerStatus,
)


def test_partition_range_tags_are_dagsters():
    assert range_tags("AAA", "CCC") == {
        "dagster/asset_partition_range_start": "AAA",
        "dagster/asset_partition_range_end": "CCC",
    }


def test_pandas_na_strings_include_the_tickers_we_keep_as_text():
    assert {"NA", "NULL", "", "nan", "N/A"} <= set(STR_NA_VALUES)
    missing = pd.read_csv(io.StringIO("x\nNA\nNULL\nN/A\n"))["x"]
    assert missing.isna().all()  # what read_csv treats as missing, which the list must name


def test_check_status_has_the_failed_member_the_lake_reads():
    assert AssetCheckExecutionRecordStatus.FAILED.value == "FAILED"


def test_progress_logger_reads_step_and_check_events(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress.ProgressHandler.__init__, "__defaults__", (stream,))

    @asset
    def good() -> int:
        return 1

    @asset_check(asset=good)
    def good_is_one(good: int) -> AssetCheckResult:
        return AssetCheckResult(passed=good == 1)

    @asset(deps=[good])
    def broken() -> None:
        raise ValueError("planted failure")

    defs = Definitions(
        assets=[good, broken],
        asset_checks=[good_is_one],
        jobs=[define_asset_job("both", selection=["good", "broken"])],
        loggers={"progress": progress.progress_logger},
    )
    result = defs.resolve_job_def("both").execute_in_process(
        run_config={"loggers": {"progress": {}}}, raise_on_error=False
    )
    assert not result.success
    lines = stream.getvalue().splitlines()
    assert any("good" in line and "started" in line for line in lines)
    assert any("good" in line and "done (checks 1 passed)" in line for line in lines)
    # the asset's own error, not Dagster's "Error occurred while executing op" wrapper
    assert any("broken" in line and "FAILED: ValueError: planted failure" in line for line in lines)


def test_run_health_names_the_recovering_launcher_reports():
    dead = CheckRunHealthResult(WorkerStatus.FAILED, "process 123 is gone")
    assert dead.status == WorkerStatus.FAILED and dead.msg == "process 123 is gone"
    assert {WorkerStatus.RUNNING, WorkerStatus.SUCCESS, WorkerStatus.UNKNOWN} <= set(WorkerStatus)
