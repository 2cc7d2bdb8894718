"""A terse Dagster logger for the command line: one line per step, warnings and errors in full.

Asset checks run once per symbol partition, so a step's checks are summed up in its ``done`` line
(``checks 40 passed``) and only failed checks get a line of their own.
"""

import logging
import sys
import time
from collections import Counter

from dagster import DagsterEventType, logger

from quant_assets.framework_internals import get_log_record_metadata, has_log_record_metadata

_EVENT_LABEL = {
    DagsterEventType.STEP_START: "started",
    DagsterEventType.STEP_SUCCESS: "done",
    DagsterEventType.STEP_FAILURE: "FAILED",
}


def root_cause(error) -> str:
    """The innermost error's message: Dagster wraps what an asset raised in "Error occurred while
    executing op ...", and the user needs the reason, not the wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


class ProgressHandler(logging.Handler):
    def __init__(self, stream=sys.stdout) -> None:
        super().__init__()
        self.stream = stream
        self.started = time.perf_counter()
        self.checks: dict[str, Counter] = {}

    def _print(self, step_key: str, text: str) -> None:
        elapsed = f"[{time.perf_counter() - self.started:6.1f}s]"
        print(f"{elapsed} {step_key:<24} {text}", file=self.stream, flush=True)

    def _check_summary(self, step_key: str) -> str:
        counts = self.checks.pop(step_key, None)
        if not counts:
            return ""
        parts = [f"{counts['passed']} passed"] + ([f"{counts['failed']} FAILED"] if counts["failed"] else [])
        return f" (checks {', '.join(parts)})"

    def emit(self, record: logging.LogRecord) -> None:
        meta = get_log_record_metadata(record) if has_log_record_metadata(record) else None
        event = meta and meta.get("dagster_event")
        step_key = (meta or {}).get("step_key") or ""
        if event is not None and event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            outcome = "passed" if evaluation.passed else "failed"
            self.checks.setdefault(step_key, Counter())[outcome] += 1
            if not evaluation.passed:
                partition = f" [{evaluation.partition}]" if getattr(evaluation, "partition", None) else ""
                self._print(step_key, f"check {evaluation.check_name}{partition}: FAILED")
        elif event is not None and event.event_type in _EVENT_LABEL:
            detail = ""
            if event.event_type == DagsterEventType.STEP_FAILURE:
                detail = f": {root_cause(event.event_specific_data.error)}"
            if event.event_type != DagsterEventType.STEP_START:
                detail = self._check_summary(step_key) + detail
            self._print(step_key, f"{_EVENT_LABEL[event.event_type]}{detail}")
        elif event is None and record.levelno >= logging.WARNING:
            message = meta["orig_message"] if meta else record.getMessage()
            self._print(step_key, f"{record.levelname}: {message}")


@logger(description="One line per step on stdout, plus warnings and errors.")
def progress_logger(init_context) -> logging.Logger:
    log = logging.getLogger("quant_assets.progress")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.handlers = [ProgressHandler()]
    return log
