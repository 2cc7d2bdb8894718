"""Crash safety (issue 15): a run killed mid-way must not look alive forever.

Real processes are killed the way the OOM killer or a lost machine does it: SIGKILL to the whole process
group, never by name. Then the next ``quant`` command (or the daemon's run monitoring) marks the run
failed in one line, its MLflow runs end FAILED with the reason, nothing half-written or temporary is left
under QUANT_HOME, and a rerun converges to the same lake bytes with exactly one new model version.

Select these tests with ``pytest -k crash_safety``. The whole-graph part kills ``quant demo`` on a tiny
universe (two bundled symbols, their last 700 days) at three points, one killed run each, chained in one
state directory: ingestion, training (model_candidate), bento build; the next demo recovers each.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from quant_assets.instance import dagster_instance
from quant_assets.resources.mlflow_tracking import FAILURE_REASON_TAG
from quant_assets.run_recovery import (
    Recovery,
    RunProcess,
    leftover_temporary_paths,
    process_is_gone,
    why_dead,
)
from quant_assets.settings import BUNDLED_DATA_DIR, MODEL_NAME, PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent
SYMBOLS = ("AAPL", "ABT")
RECOVERY_LINE = re.compile(r"^quant: marked (\d+) run\(s\) failed whose process is gone: (.*)$", re.M)
# Lake files that depend only on the input (no run ids, model versions or wall-clock times in them).
DETERMINISTIC_LAKE = re.compile(
    r"^(raw_bars|validated_bars|quarantined_bars)/\w+\.parquet$"
    r"|^(labels|technical_features|training_set)\.parquet$|^(backtest|feast_feature_views)\.json$"
)
TEMPORARY = re.compile(r"\.(tmp|partial)$")


# -- the pure rules ---------------------------------------------------------------------------------------
def _run(**changes) -> RunProcess:
    base = dict(
        run_id="r1", job_name="everything_job", status="STARTED", pid=4242, recorded_at=1000.0,
        host="here", updated_at=1000.0, created_at=999.0,
    )  # fmt: skip
    return RunProcess(**{**base, **changes})


def test_a_run_is_dead_only_when_its_own_process_is_gone_on_this_machine():
    gone, alive = (lambda pid, since: True), (lambda pid, since: False)
    judge = dict(host="here", storage_is_local=True, now=2000.0)
    assert "pid 4242" in why_dead(_run(), is_gone=gone, **judge)
    assert why_dead(_run(), is_gone=alive, **judge) is None
    # another machine's pid means nothing here, nor does an untagged run of a shared (non-SQLite) storage
    assert why_dead(_run(host="elsewhere"), is_gone=gone, **judge) is None
    assert why_dead(_run(host=None), is_gone=gone, host="here", storage_is_local=False, now=2000.0) is None
    assert why_dead(_run(host=None), is_gone=gone, **judge) is not None
    assert why_dead(_run(pid=None, recorded_at=None), is_gone=gone, **judge) is None
    # a launch (STARTING) is given a minute for its worker to start
    assert why_dead(_run(status="STARTING", updated_at=1990.0), is_gone=gone, **judge) is None
    assert "launching process" in why_dead(_run(status="STARTING", updated_at=1900.0), is_gone=gone, **judge)


def test_a_pid_is_gone_when_it_exited_is_a_zombie_or_was_reused():
    assert not process_is_gone(os.getpid(), since=time.time())
    # this process existed long before "since - 10 s" was false: a pid recorded before it started is not it
    import psutil

    started = psutil.Process().create_time()
    assert process_is_gone(os.getpid(), since=started - 10)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
        time.sleep(0.05)
    assert process_is_gone(child.pid, since=time.time())  # exited, not yet reaped
    child.wait()
    assert process_is_gone(child.pid, since=time.time())


def test_leftover_temporary_files_are_the_ones_no_live_writer_can_finish(tmp_path):
    dead, live = 4_000_001, os.getpid()
    paths = {
        "old_lake": tmp_path / "lake" / "labels.parquet.tmp",
        "new_lake": tmp_path / "lake" / "raw_bars" / "AAPL.parquet.tmp",
        "dead_writer": tmp_path / "landing" / f".a.csv.{dead}.tmp",
        "live_writer": tmp_path / "landing" / f".b.csv.{live}.tmp",
        "dagster": tmp_path / "dagster" / "x.tmp",
        "portfolio": tmp_path / "portfolio" / ".abc.partial",
        "finished": tmp_path / "lake" / "labels.parquet",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    os.utime(paths["old_lake"], (100.0, 100.0))
    staging = tmp_path / "bentoml" / f".staging.{dead}.partial"
    (staging / "models" / "m").mkdir(parents=True)
    (staging / "models" / "m" / "model.tmp").write_text("x")

    def is_gone(pid: int, since: float) -> bool:
        return pid == dead

    # a run is live since t=200: a run-written temporary file from before it is a leftover, not its own
    found = leftover_temporary_paths(tmp_path, live_since=200.0, is_gone=is_gone)
    assert found == sorted([paths["old_lake"], paths["dead_writer"], staging])
    # no live run: every run-written temporary file is a leftover; other writers' folders are never swept
    found = leftover_temporary_paths(tmp_path, live_since=None, is_gone=is_gone)
    assert found == sorted([paths["old_lake"], paths["new_lake"], paths["dead_writer"], staging])


def test_the_recovery_says_what_it_did_in_one_line():
    assert Recovery().line() is None
    done = Recovery(
        failed=[(_run(run_id="abcdef123456"), "its run worker (pid 4242) is gone")],
        mlflow_runs_ended=["m1", "m2"],
        model_versions_removed=[f"{MODEL_NAME} v3"],
        temporary_paths_removed=[Path("a.tmp")],
    )
    line = done.line()
    assert "\n" not in line
    assert line.startswith("quant: marked 1 run(s) failed whose process is gone: everything_job abcdef12 ")
    assert "ended 2 MLflow run(s) FAILED" in line and "v3" in line and "1 unfinished temporary" in line


def test_a_portfolio_save_removes_partials_of_killed_saves_only(tmp_path):
    spec = importlib.util.spec_from_file_location("portfolios", PROJECT_ROOT / "bentos" / "portfolios.py")
    portfolios = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(portfolios)  # the bento's module: stdlib only, not a package on the path
    store, STALE_PARTIAL_SECONDS = portfolios.PortfolioStore(tmp_path), portfolios.STALE_PARTIAL_SECONDS
    stale, fresh = tmp_path / ".dead.partial", tmp_path / ".busy.partial"
    for path in (stale, fresh):
        path.write_text("{")
    old = time.time() - STALE_PARTIAL_SECONDS - 5
    os.utime(stale, (old, old))
    assert store.save({"AAPL": 1.0}, "test", "1")["version"] == 1
    assert not stale.exists() and fresh.exists()


# -- killing real processes -------------------------------------------------------------------------------
def _environment(home: Path, **extra: str) -> dict[str, str]:
    """The child's environment: its own state directory, nothing of the developer's."""
    env = {
        k: v
        for k, v in os.environ.items()
        # MLFLOW_REGISTRY_URI too: mlflow.set_registry_uri writes it into this process's environment
        if not k.startswith(("QUANT_", "DAGSTER_", "BENTOML_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))
    }
    env.update(
        QUANT_HOME=str(home), PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore", BENTOML_DO_NOT_TRACK="True",
        MLFLOW_ENABLE_TELEMETRY="false",
        # XGBoost's OpenMP threads spin while waiting; on a busy 2-core machine that costs 5x the fit time
        OMP_WAIT_POLICY="PASSIVE",
    )  # fmt: skip
    env.update(extra)
    return env


class Child:
    """A process in its own session (so its group can be killed), its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float, also=None) -> str:
        """The first output line matching ``pattern`` (or '' once ``also()`` is true); fails on exit."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if also is not None and also():
                return ""
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"exited before {pattern!r}:\n" + "\n".join(self.lines[-40:]))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"no {pattern!r} within {timeout:.0f} s:\n" + "\n".join(self.lines[-40:]))

    def kill_group(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # the leader's pid is the group's id
        self.process.wait(timeout=30)

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code


def _settings(home: Path) -> Settings:
    return Settings(home=home, data_dir=BUNDLED_DATA_DIR, symbols=SYMBOLS, horizon_days=5, max_weight=0.5)


def _mlflow(settings: Settings) -> mlflow.MlflowClient:
    uri = settings.mlflow_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _mlflow_runs_of(settings: Settings, dagster_run_id: str) -> list:
    client = _mlflow(settings)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [
        run
        for tag in ("dagster_run_id", "dagster_run")
        for run in client.search_runs(experiments, f"tags.{tag} = '{dagster_run_id}'")
    ]


def _versions(settings: Settings) -> list[int]:
    return sorted(int(v.version) for v in _mlflow(settings).search_model_versions(f"name = '{MODEL_NAME}'"))


def _runs(settings: Settings) -> list:
    """Every run of the state directory's instance, oldest first."""
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        return [r.dagster_run for r in instance.get_run_records(filters=RunsFilter())][::-1]


def _temporary_paths(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if TEMPORARY.search(p.name))


# A Dagster run that registers a model version inside its dagster-mlflow run (as training does), starts a
# lake write and hangs: killed there, it is "registered, then died before the step finished", every time.
REGISTER_THEN_HANG = """
import time
import mlflow
from dagster import job, op
from quant_assets.instance import dagster_instance
from quant_assets.resources.mlflow_tracking import mlflow_tracking_resource
from quant_assets.run_recovery import host_tags
from quant_assets.settings import MODEL_NAME, load_settings

settings = load_settings()
settings.ensure_home()

@op(required_resource_keys={"mlflow"})
def register_then_hang(context):
    mlflow.log_text("flavors: {}", "model/MLmodel")
    mlflow.register_model(f"runs:/{mlflow.active_run().info.run_id}/model", MODEL_NAME)
    settings.lake_dir.mkdir(parents=True, exist_ok=True)
    (settings.lake_dir / "labels.parquet.tmp").write_bytes(b"PAR1")  # a write the kill cuts short
    print("registered", flush=True)
    time.sleep(600)

mlflow_resource = mlflow_tracking_resource.configured({
    "experiment_name": "quant-assets", "mlflow_tracking_uri": settings.mlflow_tracking_uri,
    "artifact_location": settings.mlflow_artifact_root,
})

@job(resource_defs={"mlflow": mlflow_resource})
def training_killed():
    register_then_hang()

with dagster_instance(settings) as instance:
    training_killed.execute_in_process(instance=instance, tags=host_tags())
"""


@pytest.fixture(scope="module")
def killed_while_registered(tmp_path_factory) -> dict[str, Settings]:
    """Two state directories, each with a run killed right after its step registered a model version."""
    root = tmp_path_factory.mktemp("registered")
    script = root / "register_then_hang.py"
    script.write_text(REGISTER_THEN_HANG)
    homes = {name: root / name for name in ("command", "daemon")}
    children = [Child([sys.executable, str(script)], _environment(home), cwd=root) for home in homes.values()]
    for child in children:  # side by side: most of each is imports and creating MLflow's database
        child.wait_for("^registered$", timeout=180)
        child.kill_group()
    killed = {name: _settings(home) for name, home in homes.items()}
    for settings in killed.values():
        assert _versions(settings) == [1]  # registered by the step that never finished
    return killed


def _assert_recovered(settings: Settings, failure_text: str) -> None:
    (run,) = _runs(settings)
    assert run.status == DagsterRunStatus.FAILURE
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        failure = [
            e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_run_failure
        ]
    assert failure and failure_text in failure[-1].message and "is gone" in failure[-1].message
    (mlflow_run,) = _mlflow_runs_of(settings, run.run_id)
    assert mlflow_run.info.status == "FAILED"
    assert run.run_id in mlflow_run.data.tags[FAILURE_REASON_TAG]
    assert _versions(settings) == []  # the version of a step that did not finish is gone
    assert _temporary_paths(settings.home) == []


def test_the_next_command_marks_a_killed_run_failed_and_removes_its_unfinished_model_version(
    killed_while_registered, capfd, monkeypatch
):
    settings = killed_while_registered["command"]
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # dagster_instance sets it; undone after
    capfd.readouterr()
    with dagster_instance(settings):
        pass
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and RECOVERY_LINE.match(lines[0]), lines
    assert "training_killed" in lines[0] and f"{MODEL_NAME} v1" in lines[0]
    assert "1 unfinished temporary file" in lines[0]
    _assert_recovered(settings, "Marked failed by a quant command")
    with dagster_instance(settings):  # nothing left to do: nothing said
        pass
    assert capfd.readouterr().err == ""


def test_the_daemon_marks_a_killed_run_failed_within_one_poll(killed_while_registered, tmp_path):
    """The project's dagster.yaml, the real daemon (as under `make dev`): run monitoring finds it."""
    settings = killed_while_registered["daemon"]
    started = time.time()
    daemon = Child(
        [str(BIN / "dagster-daemon"), "run", "--empty-workspace"],
        _environment(settings.home, DAGSTER_HOME=str(settings.dagster_home)),
        cwd=tmp_path,
    )
    try:
        deadline = started + 120
        while time.time() < deadline and _runs(settings)[0].status != DagsterRunStatus.FAILURE:
            time.sleep(0.5)
        marked_after = time.time() - started
    finally:
        daemon.kill_group()
    print(f"daemon started and marked the dead run failed in {marked_after:.1f} s")
    _assert_recovered(settings, "Detected run worker status FAILED")
    # the first poll runs as the daemon starts; later deaths wait at most poll_interval_seconds
    assert marked_after < 60, "\n".join(daemon.lines[-30:])


# -- the whole graph killed at three points ---------------------------------------------------------------
@dataclass
class Kill:
    point: str
    run_id: str = ""
    output: list[str] = field(default_factory=list)
    lake: dict[str, str] = field(default_factory=dict)  # relative path -> sha256, right after the kill
    unreadable: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    staging_left: bool = False  # the bento build was cut while writing (its staging folder remains)
    store_items_incomplete: list[str] = field(default_factory=list)


@dataclass
class Chain:
    settings: Settings
    kills: dict[str, Kill]
    rerun: list[str]
    rerun_code: int
    durations: dict[str, float]


def _lake(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Hashes of the lake's files, and the ones that do not read back as Parquet or JSON."""
    hashes, unreadable = {}, []
    for path in sorted(p for p in settings.lake_dir.rglob("*") if p.is_file()):
        name = path.relative_to(settings.lake_dir).as_posix()
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        try:
            pd.read_parquet(path) if path.suffix == ".parquet" else json.loads(path.read_text())
        except Exception:
            unreadable.append(name)
    return hashes, unreadable


def _incomplete_store_items(bentoml_home: Path) -> list[str]:
    """Model and bento folders without their yaml, and ``latest`` files naming no complete item."""
    bad = []
    for kind, manifest in (("models", "model.yaml"), ("bentos", "bento.yaml")):
        for name in (bentoml_home / kind).glob("*"):
            versions = {p.name for p in name.iterdir() if p.is_dir() and (p / manifest).is_file()}
            bad += [p.as_posix() for p in name.iterdir() if p.is_dir() and p.name not in versions]
            latest = name / "latest"
            if latest.exists() and latest.read_text().strip() not in versions:
                bad.append(latest.as_posix())
    return bad


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Chain:
    """`quant demo` killed during ingestion, training and the bento build, then run to the end."""
    root = tmp_path_factory.mktemp("crash")
    home, data = root / "home", root / "data"
    data.mkdir()
    for symbol in SYMBOLS:  # the last 700 days: the same code path, a third of the work
        lines = (BUNDLED_DATA_DIR / f"{symbol}_data.csv").read_text().splitlines()
        (data / f"{symbol}_data.csv").write_text("\n".join([lines[0], *lines[-700:]]) + "\n")
    limits = root / "risk_limits.yaml"  # two names at 50 % each: the paper cycle's limits allow them
    limits.write_text("max_weight: 0.5\nmin_names: 2\nmax_var_95_1d: 0.5\nmax_turnover: 1.0\n")
    env = _environment(
        home, QUANT_DATA_DIR=str(data), QUANT_SYMBOLS=",".join(SYMBOLS), QUANT_MAX_WEIGHT="0.5",
        QUANT_RISK_LIMITS=str(limits),
    )  # fmt: skip
    settings = _settings(home)
    staging = lambda: list((home / "bentoml").glob(".staging.*.partial/models/*/*"))  # noqa: E731
    points = {
        # the run's progress line says the step started; the kill lands inside it
        "ingestion": dict(pattern=r"validate_bars\s+started", after=0.5, also=None),
        "training": dict(pattern=r"model_candidate\s+started", after=3.0, also=None),
        # cut while BentoML writes the model into its (staging) store
        "bento": dict(pattern=r"bento\s+done", after=0.0, also=staging),
    }
    kills, durations = {}, {}
    for point, how in points.items():
        began = time.time()
        child = Child([str(BIN / "quant"), "demo"], env, cwd=root)
        child.wait_for(how["pattern"], timeout=300, also=how["also"])
        time.sleep(how["after"])
        child.kill_group()
        durations[point] = time.time() - began
        kill = Kill(point, output=child.lines)
        kill.run_id = _runs(settings)[-1].run_id
        kill.lake, kill.unreadable = _lake(settings)
        kill.versions = _versions(settings) if settings.mlflow_dir.joinpath("mlflow.db").exists() else []
        kill.staging_left = bool(staging())
        kill.store_items_incomplete = _incomplete_store_items(home / "bentoml")
        kills[point] = kill
    began = time.time()
    rerun = Child([str(BIN / "quant"), "demo"], env, cwd=root)
    code = rerun.finish(timeout=600)
    durations["rerun"] = time.time() - began
    print("crash-safety durations (s): " + ", ".join(f"{k} {v:.0f}" for k, v in durations.items()))
    for line in _recovery_lines([*(line for k in kills.values() for line in k.output), *rerun.lines]):
        print(line)
    return Chain(settings, kills, rerun.lines, code, durations)


def _recovery_lines(output: list[str]) -> list[str]:
    return [line for line in output if RECOVERY_LINE.match(line)]


@pytest.mark.parametrize("point", ["ingestion", "training", "bento"])
def test_the_next_demo_marks_the_killed_run_failed_in_one_line(chain, point):
    order = ["ingestion", "training", "bento"]
    kill = chain.kills[point]
    later = order.index(point) + 1
    output = chain.kills[order[later]].output if later < len(order) else chain.rerun
    lines = _recovery_lines(output)
    assert len(lines) == 1, output[:20]
    assert RECOVERY_LINE.match(lines[0]).group(1) == "1" and kill.run_id[:8] in lines[0]
    run = next(r for r in _runs(chain.settings) if r.run_id == kill.run_id)
    assert run.status == DagsterRunStatus.FAILURE


def test_no_run_looks_alive_and_every_mlflow_run_of_a_killed_run_ended(chain):
    runs = _runs(chain.settings)
    assert [r.status for r in runs] == [DagsterRunStatus.FAILURE] * 3 + [DagsterRunStatus.SUCCESS]
    for kill in chain.kills.values():
        statuses = {r.info.status for r in _mlflow_runs_of(chain.settings, kill.run_id)}
        assert "RUNNING" not in statuses, (kill.point, statuses)
    # killed inside model_candidate: the run dagster-mlflow opened for it ends FAILED, saying why
    (training,) = [
        r
        for r in _mlflow_runs_of(chain.settings, chain.kills["training"].run_id)
        if "dagster_run_id" in r.data.tags
    ]
    assert training.info.status == "FAILED"
    reason = training.data.tags[FAILURE_REASON_TAG]
    assert chain.kills["training"].run_id in reason and "is gone" in reason


def test_what_a_killed_run_wrote_is_complete_or_absent(chain):
    for kill in chain.kills.values():
        assert kill.unreadable == [], kill.point
        assert kill.store_items_incomplete == [], kill.point
    assert chain.kills["bento"].staging_left, "the bento kill should land while BentoML writes"
    assert _temporary_paths(chain.settings.home) == []
    assert _incomplete_store_items(chain.settings.bentoml_home) == []


def test_a_rerun_gives_the_same_lake_bytes_and_exactly_one_new_model_version(chain):
    assert chain.rerun_code == 0, "\n".join(chain.rerun[-40:])
    final, unreadable = _lake(chain.settings)
    assert unreadable == []
    compared = 0
    for kill in chain.kills.values():
        for name, digest in kill.lake.items():
            if DETERMINISTIC_LAKE.match(name):
                assert final[name] == digest, f"{name} after the {kill.point} kill differs from the rerun's"
                compared += 1
    assert compared >= 8
    # the training kill registered nothing; the bento kill's model_candidate had finished (one version)
    assert chain.kills["training"].versions == []
    before = chain.kills["bento"].versions
    assert len(before) == 1 and _versions(chain.settings) == [*before, before[-1] + 1]
    # and the bento that serves it loads
    check = subprocess.run(
        [sys.executable, "-c", "import bentoml; print(bentoml.get('quant_forecaster:latest').tag)"],
        env={**os.environ, "BENTOML_HOME": str(chain.settings.bentoml_home)},
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
