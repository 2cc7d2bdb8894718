"""A terse Dagster logger for the command line: one line per step, warnings and errors in full."""

import logging
import sys
import time

from dagster import DagsterEventType, logger
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata

_EVENT_LABEL = {
    DagsterEventType.STEP_START: "started",
    DagsterEventType.STEP_SUCCESS: "done",
    DagsterEventType.STEP_FAILURE: "FAILED",
    DagsterEventType.ASSET_CHECK_EVALUATION: "check",
}


class ProgressHandler(logging.Handler):
    def __init__(self, stream=sys.stdout) -> None:
        super().__init__()
        self.stream = stream
        self.started = time.perf_counter()

    def emit(self, record: logging.LogRecord) -> None:
        meta = get_log_record_metadata(record) if has_log_record_metadata(record) else None
        event = meta and meta.get("dagster_event")
        elapsed = f"[{time.perf_counter() - self.started:6.1f}s]"
        if event is not None and event.event_type in _EVENT_LABEL:
            detail = ""
            if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                detail = f" {evaluation.check_name}: {'passed' if evaluation.passed else 'FAILED'}"
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                detail = f": {event.event_specific_data.error.message.strip()}"
            print(
                f"{elapsed} {meta['step_key'] or '':<24} {_EVENT_LABEL[event.event_type]}{detail}",
                file=self.stream,
                flush=True,
            )
        elif event is None and record.levelno >= logging.WARNING:
            print(
                f"{elapsed} {meta['step_key'] if meta else '':<24} {record.levelname}: "
                f"{meta['orig_message'] if meta else record.getMessage()}",
                file=self.stream,
                flush=True,
            )


@logger(description="One line per step on stdout, plus warnings and errors.")
def progress_logger(init_context) -> logging.Logger:
    log = logging.getLogger("quant_assets.progress")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.handlers = [ProgressHandler()]
    return log
