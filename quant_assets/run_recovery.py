"""Runs whose process died: find them, mark them failed, end their MLflow runs, sweep what they left.

A run's worker records its pid in the run's ``RUN_START`` event (every Dagster event carries the pid of
the process that emitted it). When that process is killed (SIGKILL, the OOM killer, a lost machine) nothing
records the run's end: Dagster would show it ``STARTED`` forever, a queue limit would count it and its
MLflow run would stay ``RUNNING``. Two moments find such runs:

- while the daemon runs (``make dev``): run monitoring (``dagster.yaml``) asks the run launcher about each
  started run every ``poll_interval_seconds``; :class:`RecoveringRunLauncher` answers from the pid, and the
  daemon marks the run failed and frees its concurrency slots;
- without a daemon: the next ``quant`` command that opens the instance (:func:`recover_and_report`) marks
  them failed itself and says so in one line.

A pid is judged only on the machine that owns it: runs tagged with another host, and untagged runs of a
storage that is not local (not SQLite), are left to the daemon of their own machine.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import psutil
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultRunLauncher,
    RunRecord,
    RunsFilter,
)

# The launcher API is not exported at dagster's top level; dagster-k8s and dagster-docker import it here.
from quant_assets.framework_internals import CheckRunHealthResult, WorkerStatus
from quant_assets.settings import Settings

HOST_TAG = "quant/host"
# Names a writer gives a file or folder it has not finished; ``name.<pid>.tmp`` also says whose it is.
TEMPORARY_SUFFIXES = (".tmp", ".partial")
_PID_IN_NAME = re.compile(r"\.(\d{1,7})\.(?:tmp|partial)$")
# Stores with writers of their own: Dagster's and MLflow's internals, and the HTTP server's portfolio
# versions (bentos/portfolios.py sweeps its own leftovers).
UNSWEPT_FOLDERS = ("dagster", "mlflow", "portfolio")
# A process created this long after the run recorded its pid is a newer process that reused the number.
PID_REUSE_TOLERANCE_SECONDS = 1.0
# A STARTING run has no worker yet; it is judged by the launching process only after this long.
STARTING_GRACE_SECONDS = 60.0


def this_host() -> str:
    return socket.gethostname()


def host_tags() -> dict[str, str]:
    """Tags for a run this process starts: which machine's pids its events carry."""
    return {HOST_TAG: this_host()}


@dataclass(frozen=True)
class RunProcess:
    """What an unfinished run says about the process that runs it."""

    run_id: str
    job_name: str
    status: str  # STARTED, or STARTING (a launcher recorded it, no worker has started yet)
    pid: int | None  # the process that recorded the run's start (STARTED) or launch (STARTING)
    recorded_at: float | None  # when that process recorded it (epoch seconds)
    host: str | None  # the run's quant/host tag, when it has one
    updated_at: float  # when the run's status last changed (epoch seconds)
    created_at: float  # when the run was created (epoch seconds)


def process_is_gone(pid: int, since: float) -> bool:
    """No process has this pid, it is a zombie, or the pid now belongs to a process started after ``since``
    (the moment the original process was known to be alive), i.e. the number was reused."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return process.create_time() > since + PID_REUSE_TOLERANCE_SECONDS
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:  # it exists and belongs to someone else: alive
        return False


def why_dead(
    run: RunProcess,
    *,
    host: str,
    storage_is_local: bool,
    now: float,
    is_gone: Callable[[int, float], bool] = process_is_gone,
) -> str | None:
    """Why ``run`` can never finish (a sentence), or None when it is alive or cannot be judged from here."""
    if run.host is not None and run.host != host:
        return None  # its pids are another machine's
    if run.host is None and not storage_is_local:
        return None  # a shared storage: the worker may be on any machine
    if run.pid is None or run.recorded_at is None:
        return None
    if run.status == DagsterRunStatus.STARTING.value and now - run.updated_at < STARTING_GRACE_SECONDS:
        return None
    if not is_gone(run.pid, run.recorded_at):
        return None
    role = "run worker" if run.status == DagsterRunStatus.STARTED.value else "launching process"
    return f"its {role} (pid {run.pid} on {host}) is gone: killed or crashed before recording the run's end"


def leftover_temporary_paths(
    home: Path,
    live_since: float | None,
    is_gone: Callable[[int, float], bool] = process_is_gone,
) -> list[Path]:
    """Unfinished files and folders under ``home`` whose writer is gone.

    A name carrying its writer's pid (``x.<pid>.tmp``) is left over when that process is gone. Any other
    temporary name is written by runs only (lake, Feast offline store, landing cache), so it is left over
    when it is older than every live run (``live_since``: the oldest live run's creation; None: no run is
    live). Folders in :data:`UNSWEPT_FOLDERS` belong to other writers and are not looked at.
    """
    found: list[Path] = []
    if not home.is_dir():
        return found
    for root, folders, files in os.walk(home):
        here = Path(root)
        if here == home:
            folders[:] = [f for f in folders if f not in UNSWEPT_FOLDERS]
        for name in [*folders, *files]:
            if not name.endswith(TEMPORARY_SUFFIXES):
                continue
            path = here / name
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:  # finished (renamed) meanwhile
                continue
            owner = _PID_IN_NAME.search(name)
            if owner is not None:
                left = is_gone(int(owner.group(1)), modified)
            else:
                left = live_since is None or modified < live_since
            if left:
                found.append(path)
        folders[:] = [f for f in folders if not f.endswith(TEMPORARY_SUFFIXES)]  # never look inside
    return sorted(found)


def remove_paths(paths: Iterable[Path]) -> list[Path]:
    """Delete files and folders; the ones that vanished meanwhile are not counted."""
    removed = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


@dataclass
class Recovery:
    """What one pass found and did."""

    failed: list[tuple[RunProcess, str]] = field(default_factory=list)  # (run, why it is dead)
    mlflow_runs_ended: list[str] = field(default_factory=list)
    model_versions_removed: list[str] = field(default_factory=list)
    temporary_paths_removed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def effects(self) -> list[str]:
        """What was done besides marking runs failed, in words."""
        parts = []
        if self.mlflow_runs_ended:
            parts.append(f"ended {len(self.mlflow_runs_ended)} MLflow run(s) FAILED")
        if self.model_versions_removed:
            versions = ", ".join(self.model_versions_removed)
            parts.append(f"removed model version(s) {versions} registered by a step that did not finish")
        if self.temporary_paths_removed:
            parts.append(f"removed {len(self.temporary_paths_removed)} unfinished temporary file(s)")
        return [*parts, *self.problems]

    def line(self) -> str | None:
        """One line for the command's user; None when there was nothing to do."""
        if not (self.failed or self.effects()):
            return None
        runs = ", ".join(f"{run.job_name} {run.run_id[:8]} (pid {run.pid})" for run, _ in self.failed)
        failed = (
            [f"marked {len(self.failed)} run(s) failed whose process is gone: {runs}"] if self.failed else []
        )
        return "quant: " + "; ".join([*failed, *self.effects()])


# -- the Dagster side ------------------------------------------------------------------------------------
_RECORDING_EVENT = {
    DagsterRunStatus.STARTED: DagsterEventType.RUN_START,
    DagsterRunStatus.STARTING: DagsterEventType.RUN_STARTING,
}


def storage_is_local(instance: DagsterInstance) -> bool:
    """SQLite (or in-memory) run storage lives on this machine, so every worker writing to it does too."""
    name = type(instance.run_storage).__name__.lower()
    return "sqlite" in name or "inmemory" in name


def run_process(instance: DagsterInstance, record: RunRecord) -> RunProcess:
    """The pid and time recorded by the latest start (or launch) event of an unfinished run."""
    run = record.dagster_run
    pid = recorded_at = None
    event_type = _RECORDING_EVENT.get(run.status)
    if event_type is not None:
        entries = instance.all_logs(run.run_id, of_type=event_type)
        if entries and entries[-1].dagster_event is not None:
            pid, recorded_at = entries[-1].dagster_event.pid, entries[-1].timestamp
    return RunProcess(
        run_id=run.run_id,
        job_name=run.job_name,
        status=run.status.value,
        pid=pid,
        recorded_at=recorded_at,
        host=run.tags.get(HOST_TAG),
        updated_at=record.update_timestamp.timestamp(),
        created_at=record.create_timestamp.timestamp(),
    )


def unfinished_runs(instance: DagsterInstance) -> list[RunProcess]:
    records = instance.get_run_records(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
    )
    return [run_process(instance, record) for record in records]


def materialized_model_versions(instance: DagsterInstance, run_id: str) -> set[str]:
    """Model versions the run's steps finished with (``model_version`` in a materialization's metadata)."""
    versions = set()
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        value = (
            entry.asset_materialization.metadata.get("model_version") if entry.asset_materialization else None
        )
        if value is not None:
            versions.add(str(getattr(value, "value", value)))
    return versions


def _end_mlflow_runs(
    instance: DagsterInstance,
    run: RunProcess,
    why: str,
    tracking_uri: str | None,
    finder: str,
    result: Recovery,
) -> None:
    from quant_assets.resources.mlflow_tracking import fail_runs_of_dagster_run

    reason = (
        f"Dagster run {run.run_id} ({run.job_name}) died: {why}; found by {finder} at "
        f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}"
    )
    try:
        ended, removed = fail_runs_of_dagster_run(
            tracking_uri, run.run_id, reason, keep_versions=materialized_model_versions(instance, run.run_id)
        )
    except Exception as error:  # MLflow down must not keep the Dagster run "alive"
        result.problems.append(f"could not end the MLflow runs of {run.run_id[:8]}: {error}")
        return
    result.mlflow_runs_ended.extend(ended)
    result.model_versions_removed.extend(removed)


def _live_since(runs: Iterable[RunProcess], dead: set[str]) -> float | None:
    created = [run.created_at for run in runs if run.run_id not in dead]
    return min(created) if created else None


def recover_dead_runs(
    instance: DagsterInstance, home: Path, tracking_uri: str | None, finder: str = "a quant command"
) -> Recovery:
    """Mark every dead run of this instance failed (MLflow runs first), free its slots, sweep leftovers."""
    result = Recovery()
    runs = unfinished_runs(instance)
    host, local, now = this_host(), storage_is_local(instance), time.time()
    for run in runs:
        why = why_dead(run, host=host, storage_is_local=local, now=now)
        dagster_run = instance.get_run_by_id(run.run_id) if why else None
        if dagster_run is None or dagster_run.is_finished:  # alive, finished meanwhile, or deleted
            continue
        _end_mlflow_runs(instance, run, why, tracking_uri, finder, result)
        instance.report_run_failed(dagster_run, f"Marked failed by {finder}: {why}.")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        result.failed.append((run, why))
    dead = {run.run_id for run, _ in result.failed}
    result.temporary_paths_removed = remove_paths(leftover_temporary_paths(home, _live_since(runs, dead)))
    return result


def recover_and_report(
    instance: DagsterInstance, settings: Settings, stream: TextIO | None = None
) -> Recovery:
    """:func:`recover_dead_runs` for a ``quant`` command, saying what it did in one line (stderr, so that
    a command's ``--json`` output stays parseable)."""
    result = recover_dead_runs(instance, settings.home, settings.mlflow_tracking_uri, finder=_command_name())
    line = result.line()
    if line:
        print(line, file=stream or sys.stderr, flush=True)
    return result


def _command_name() -> str:
    args = sys.argv
    return f"`quant {args[1]}`" if len(args) > 1 and Path(args[0]).name == "quant" else "a quant command"


class RecoveringRunLauncher(DefaultRunLauncher):
    """The default launcher, able to tell run monitoring whether a run's worker is still alive.

    Dagster's default launcher cannot (its workers are plain processes), so the monitoring daemon would
    never notice a killed run. This one answers from the pid the run recorded; for a dead worker it first
    ends the run's MLflow runs and sweeps its temporary files, then answers FAILED and the daemon marks the
    run failed. Configured in ``dagster.yaml`` (``run_launcher``).
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        from quant_assets.settings import load_settings

        instance = self._instance
        record = instance.get_run_record_by_id(run.run_id)
        if record is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"run {run.run_id} is not in the storage")
        process = run_process(instance, record)
        why = why_dead(
            process, host=this_host(), storage_is_local=storage_is_local(instance), now=time.time()
        )
        if why is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {process.pid} alive or not judged here")
        settings = load_settings()
        result = Recovery()
        _end_mlflow_runs(instance, process, why, settings.mlflow_tracking_uri, "run monitoring", result)
        others = [p for p in unfinished_runs(instance) if p.run_id != run.run_id]
        result.temporary_paths_removed = remove_paths(
            leftover_temporary_paths(settings.home, _live_since(others, set()))
        )
        done = "; ".join(result.effects())
        return CheckRunHealthResult(WorkerStatus.FAILED, why + (f" ({done})" if done else ""))
