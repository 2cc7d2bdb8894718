"""The MLflow model registry: versions, the ``champion``/``challenger`` aliases, loading models.

Aliases replace the deprecated stages: ``champion`` is what serves, ``challenger`` the newest candidate.
"""

from pathlib import Path

import mlflow
import xgboost as xgb
from dagster import ConfigurableResource
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

CHAMPION = "champion"
CHALLENGER = "challenger"


class ModelRegistry(ConfigurableResource):
    tracking_uri: str
    model_name: str

    def client(self) -> mlflow.MlflowClient:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, version)

    def tag_version(self, version: str, tags: dict[str, object]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, version, key, str(value))

    def load_model(self, version: str) -> xgb.XGBRegressor:
        self.client()
        return mlflow.xgboost.load_model(f"models:/{self.model_name}/{version}")

    def save_booster(self, version: str, path: Path) -> Path:
        """Write the version's booster in XGBoost's own format (what the bento loads natively)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.load_model(version).get_booster().save_model(str(path))
        return path

    def candidate_record(self, version: str, artifact: str = "candidate.json") -> dict:
        """The training record (metrics, calibration, features) logged with a version's run."""
        run_id = self.client().get_model_version(self.model_name, version).run_id
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact}")
