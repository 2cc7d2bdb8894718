"""The MLflow model registry: versions, the ``champion``/``challenger`` aliases, loading models.

Aliases replace the deprecated stages: ``champion`` is what serves, ``challenger`` the newest
candidate, ``previous_champion`` what ``quant rollback`` returns to.
"""

from pathlib import Path

import mlflow
import xgboost as xgb
from dagster import ConfigurableResource
from mlflow.exceptions import MlflowException

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"


class ModelRegistry(ConfigurableResource):
    tracking_uri: str
    model_name: str

    def client(self) -> mlflow.MlflowClient:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def alias_version(self, alias: str) -> str | None:
        """The version an alias points to, as a string, or None (no model or no such alias)."""
        try:
            return str(self.client().get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException:
            return None

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, str(version))

    def promote(self, version: str) -> None:
        """Make ``version`` the champion, remembering the one it replaces for rollback."""
        current = self.alias_version(CHAMPION)
        if current is not None and current != str(version):
            self.set_alias(PREVIOUS_CHAMPION, current)
        self.set_alias(CHAMPION, version)

    def rollback(self) -> tuple[str, str]:
        """Swap champion and previous champion; returns ``(demoted, restored)``."""
        current, previous = self.alias_version(CHAMPION), self.alias_version(PREVIOUS_CHAMPION)
        if current is None or previous is None:
            raise RuntimeError(f"nothing to roll back to: champion={current}, previous_champion={previous}")
        self.set_alias(CHAMPION, previous)
        self.set_alias(PREVIOUS_CHAMPION, current)
        self.tag_version(current, {"rolled_back": "true"})
        return current, previous

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client().get_model_version(self.model_name, str(version)).tags)

    def tag_version(self, version: str, tags: dict[str, object]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, str(version), key, str(value))

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
        run_id = self.client().get_model_version(self.model_name, str(version)).run_id
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact}")
