"""MLflow runs of Dagster jobs, owned by dagster-mlflow.

dagster-mlflow's resource opens one MLflow run per Dagster run (tagged ``dagster_run_id``, resumed by
every step of that run). We wrap it only to create the experiment with its artifacts under the
platform's state directory first; MLflow would otherwise put them in ``./mlruns`` of whatever the
current directory happens to be.

The backtest's own runs carry ``dagster_run`` (not ``dagster_run_id``, which dagster-mlflow would resume),
and nested runs (tuning trials, replayed models) ``mlflow.parentRunId``: together, every MLflow run a
Dagster run opened. When that Dagster run dies, :func:`fail_runs_of_dagster_run` ends the ones left open.
"""

from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
from dagster import InitResourceContext, resource
from dagster_mlflow import mlflow_tracking
from dagster_mlflow.resources import MlFlow


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str) -> str:
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


@resource(
    config_schema={**mlflow_tracking.config_schema.as_field().config_type.fields, "artifact_location": str},
    description="dagster-mlflow tracking with the experiment's artifacts kept under QUANT_HOME.",
)
def mlflow_tracking_resource(context: InitResourceContext) -> MlFlow:
    config = context.resource_config
    ensure_experiment(config["mlflow_tracking_uri"], config["experiment_name"], config["artifact_location"])
    # Models registered through this run's `mlflow` module go to the same store as its runs. Without
    # this, MLflow takes MLFLOW_REGISTRY_URI, which mlflow.set_registry_uri writes process-wide: a second
    # platform in one process (tests, a notebook) registered into the first one's registry.
    mlflow.set_registry_uri(config["mlflow_tracking_uri"])
    return MlFlow(context)


# The tags that tie an MLflow run to the Dagster run that opened it (dagster-mlflow's; the backtest's).
DAGSTER_RUN_TAGS = ("dagster_run_id", "dagster_run")
FAILURE_REASON_TAG = "quant.failure_reason"


def _store_exists(tracking_uri: str) -> bool:
    """False for a SQLite store never created: no run can be open there (and none is created by asking)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return True
    return Path(unquote(tracking_uri.removeprefix("sqlite:///").split("?")[0])).exists()


def open_runs_of_dagster_run(client: mlflow.MlflowClient, dagster_run_id: str) -> list[str]:
    """Ids of the still RUNNING MLflow runs a Dagster run opened, their nested runs included."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = "attributes.status = 'RUNNING'"
    found = [
        run.info.run_id
        for tag in DAGSTER_RUN_TAGS
        for run in client.search_runs(experiments, f"tags.{tag} = '{dagster_run_id}' and {running}")
    ]
    parents, seen = list(found), set(found)
    while parents:
        children = client.search_runs(
            experiments, f"tags.`mlflow.parentRunId` = '{parents.pop()}' and {running}"
        )
        for child in children:
            if child.info.run_id not in seen:
                seen.add(child.info.run_id)
                found.append(child.info.run_id)
                parents.append(child.info.run_id)
    return found


def fail_runs_of_dagster_run(
    tracking_uri: str | None, dagster_run_id: str, reason: str, keep_versions: set[str]
) -> tuple[list[str], list[str]]:
    """End a dead Dagster run's open MLflow runs as FAILED, tagged with ``reason``; returns (ended run ids,
    removed model versions).

    A model version registered from one of those runs belongs to a step that never finished (training
    registers, then ends its run): it is deleted, unless the Dagster run recorded it as materialised
    (``keep_versions``), so the registry never offers a model from an unfinished run.
    """
    if tracking_uri and not _store_exists(tracking_uri):
        return [], []
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    ended = open_runs_of_dagster_run(client, dagster_run_id)
    for run_id in ended:
        client.set_tag(run_id, FAILURE_REASON_TAG, reason)
        client.set_terminated(run_id, status="FAILED")
    removed = []
    for run_id in ended:
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            if str(version.version) not in keep_versions:
                client.delete_model_version(version.name, version.version)
                removed.append(f"{version.name} v{version.version}")
    return ended, removed
