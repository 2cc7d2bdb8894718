"""The private names of Dagster and pandas the platform uses, kept in one place, each for a reason no
public API covers. A release that moves one breaks this import and tests/test_framework_internals.py,
not the modules that rely on it.

- ``ASSET_PARTITION_RANGE_START_TAG`` / ``_END_TAG`` (dagster): the run tags that make one run cover a
  range of symbol partitions; ``execute_in_process`` and ``RunRequest`` take only these tags for a range.
- ``get_log_record_metadata`` / ``has_log_record_metadata`` (dagster): the structured event behind a
  log record, which the command line's one-line-per-step logger (``progress.py``) reads.
- ``AssetCheckExecutionRecordStatus`` (dagster): the status of a check's latest evaluation per partition,
  which the lake reads to skip partitions a blocking check rejected.
- ``CheckRunHealthResult`` / ``WorkerStatus`` (dagster): what a run launcher answers to run monitoring's
  health check; the recovering launcher (``run_recovery.py``) reports a run whose process died.
- ``STR_NA_VALUES`` (pandas): the strings ``read_csv`` would turn into NaN, so the bar-file reader can keep
  them as text in symbol columns (the tickers NA and NULL) and still treat them as missing in numbers.
"""

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from pandas._libs.parsers import STR_NA_VALUES

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "STR_NA_VALUES",
    "AssetCheckExecutionRecordStatus",
    "CheckRunHealthResult",
    "WorkerStatus",
    "get_log_record_metadata",
    "has_log_record_metadata",
]
