"""MLflow runs of Dagster jobs, owned by dagster-mlflow.

dagster-mlflow's resource opens one MLflow run per Dagster run (tagged ``dagster_run_id``, resumed by
every step of that run). We wrap it only to create the experiment with its artifacts under the
platform's state directory first; MLflow would otherwise put them in ``./mlruns`` of whatever the
current directory happens to be.
"""

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
    return MlFlow(context)
