"""Read-only view of the MLflow model registry: which version is champion/challenger, and its metrics.

The platform registers every candidate as a version of ``quant-assets-xgb`` and moves the aliases
``champion`` and ``challenger``; serving only reads. The registry is at ``MLFLOW_TRACKING_URI``, or the
embedded SQLite database under ``QUANT_HOME`` like the rest of the platform's state.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

MODEL_NAME = "quant-assets-xgb"
ALIASES = ("champion", "challenger")
_VERSION = re.compile(r"^v?(\d{1,9})$")


class RegistryUnavailable(Exception):
    """The registry cannot be read (a server fault, answered 503)."""


class UnknownModel(LookupError):
    """No such model id (answered 404)."""


def _is_not_found(exc: Exception) -> bool:
    """MLflow's "no such version/alias" (a 404 for the client), as opposed to an unreachable registry."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def default_tracking_uri(env: dict[str, str], quant_home: Path) -> str:
    return env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{quant_home / 'mlflow' / 'mlflow.db'}"


class ModelRegistryView:
    def __init__(self, tracking_uri: str, model_name: str = MODEL_NAME) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client = None

    def _get_client(self):
        if self.tracking_uri.startswith("sqlite:///"):
            # MLflow would silently create an empty database; a missing one is a deployment fault.
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            if not db.exists():
                raise RegistryUnavailable(f"the MLflow registry database {db} does not exist")
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def warm(self) -> None:
        """Import MLflow and open the client now, so the first request does not pay for it."""
        try:
            self._get_client()
        except RegistryUnavailable:
            pass  # answered per request with 503 and the reason

    def describe(self, model_id: str, served_version: str) -> dict:
        """``{model_id, version, status, serving, aliases, last_updated, metrics}`` for an id.

        ``model_id`` is ``current`` (the version this server answers with), an alias (``champion``,
        ``challenger``) or a version number (``3`` or ``v3``).
        """
        from mlflow.exceptions import MlflowException

        wanted = model_id.strip().lower()
        try:
            client = self._get_client()
            if wanted == "current":
                version = client.get_model_version(self.model_name, served_version)
            elif wanted in ALIASES:
                try:
                    version = client.get_model_version_by_alias(self.model_name, wanted)
                except MlflowException as exc:
                    if not _is_not_found(exc):
                        raise
                    raise UnknownModel(f"no model version holds the alias {wanted!r} yet") from exc
            elif match := _VERSION.match(wanted):
                try:
                    version = client.get_model_version(self.model_name, match.group(1))
                except MlflowException as exc:
                    if not _is_not_found(exc):
                        raise
                    raise UnknownModel(f"model {self.model_name} has no version {match.group(1)}") from exc
            else:
                raise UnknownModel(
                    f"unknown model id {model_id!r}: "
                    "use 'current', 'champion', 'challenger' or a version number"
                )
            run_metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        except (UnknownModel, RegistryUnavailable):
            raise
        except Exception as exc:  # the registry's own failures: unreachable, locked, corrupt
            raise RegistryUnavailable(f"the MLflow registry could not be read: {type(exc).__name__}") from exc
        aliases = sorted(version.aliases or [])
        status = next((a for a in ALIASES if a in aliases), "registered")
        return {
            "model_id": model_id,
            "version": str(version.version),
            "status": status,
            "serving": str(version.version) == served_version,
            "aliases": aliases,
            "last_updated": dt.datetime.fromtimestamp(
                version.last_updated_timestamp / 1000, dt.UTC
            ).isoformat(),
            "metrics": {k: float(v) for k, v in sorted(run_metrics.items()) if math.isfinite(v)},
        }
