"""The Feast feature store as a Dagster resource.

Configuration is the repo's own ``feature_store.yaml`` with ``${QUANT_HOME}`` filled in from this
resource (not from the process environment), so several state directories can coexist in one process.

Feast's file registry rewrites ``registry.db`` in place (truncate, then write): a run killed in between
leaves an empty or half registry. The pipeline writes it through :class:`AtomicFileRegistryStore` instead
(a new file, then a rename). Readers (the bento) keep Feast's own store: they never write.
"""

import importlib.util
import os
import string
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import ModuleType

import pandas as pd
import yaml
from dagster import ConfigurableResource
from feast import FeatureStore, RepoConfig
from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from pydantic import PrivateAttr

from quant_assets.core.feature_sets import feature_set


def _load_repo_module(repo_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("quant_feature_repo_features", repo_dir / "features.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no features.py in Feast repo {repo_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_feast_timestamps(dates: pd.Series) -> pd.Series:
    """Trading dates as ``timestamp[us, UTC]``: duckdb's offline store rejects ns tz-aware Parquet."""
    return pd.to_datetime(dates).dt.tz_localize("UTC").astype("datetime64[us, UTC]")


class AtomicFileRegistryStore(FileRegistryStore):
    """Feast's file registry, written to ``registry.db.<pid>.tmp`` first and renamed over the old one, so
    a reader or a killed writer sees the old registry or the new one, never half of it."""

    def _write_registry(self, registry_proto: RegistryProto) -> None:
        target = self._filepath
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        self._filepath = partial
        try:
            super()._write_registry(registry_proto)  # Feast stamps the version, writes and fsyncs
        finally:
            self._filepath = target
        partial.replace(target)


REGISTRY_STORE = f"{AtomicFileRegistryStore.__module__}.{AtomicFileRegistryStore.__name__}"


class FeastResource(ConfigurableResource):
    repo_dir: str
    quant_home: str
    feature_set: str = (
        "technical_v1"  # a name in quant_assets.core.feature_sets; the service is named after it
    )
    _store: FeatureStore | None = PrivateAttr(default=None)

    @cached_property
    def definitions(self) -> dict[str, object]:
        return _load_repo_module(Path(self.repo_dir)).build_feature_definitions(
            self.quant_home, self.feature_names, self.feature_set
        )

    @property
    def feature_names(self) -> list[str]:
        return list(feature_set(self.feature_set).columns)

    @property
    def feature_service_name(self) -> str:
        return self.definitions["service"].name

    @property
    def offline_path(self) -> Path:
        return Path(self.definitions["source"].path)

    def store(self) -> FeatureStore:
        if self._store is None:
            text = (Path(self.repo_dir) / "feature_store.yaml").read_text()
            raw = yaml.safe_load(string.Template(text).safe_substitute(QUANT_HOME=self.quant_home))
            registry = raw.get("registry")
            if isinstance(registry, dict) and registry.get("registry_type", "file") == "file":
                registry.setdefault("registry_store_type", REGISTRY_STORE)
            (Path(self.quant_home) / "feast").mkdir(parents=True, exist_ok=True)
            self._store = FeatureStore(config=RepoConfig(repo_path=Path(self.repo_dir), **raw))
        return self._store

    def write_offline(self, features: pd.DataFrame) -> Path:
        """Write features (symbol, date, ...) as the offline source, event time = trading date."""
        frame = features.rename(columns={"date": "event_timestamp"})
        frame["event_timestamp"] = to_feast_timestamps(frame["event_timestamp"])
        frame["created_timestamp"] = pd.Timestamp.now(tz="UTC").floor("us")
        frame["created_timestamp"] = frame["created_timestamp"].astype("datetime64[us, UTC]")
        self.offline_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.offline_path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(self.offline_path)
        return self.offline_path

    def apply(self) -> None:
        d = self.definitions
        self.store().apply([d["symbol"], d["view"], d["service"]])

    def materialize_online(self, start: datetime, end: datetime) -> None:
        self.store().materialize(
            start_date=start, end_date=end, feature_views=[self.definitions["view"].name]
        )

    def historical_features(self, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time join: each entity row gets the newest features with event time <= its own."""
        entities = entity_df.copy()
        entities["event_timestamp"] = to_feast_timestamps(entities["event_timestamp"])
        service = self.store().get_feature_service(self.feature_service_name)
        return self.store().get_historical_features(entity_df=entities, features=service).to_df()

    def online_features(self, symbols: list[str]) -> pd.DataFrame:
        """Newest features per symbol plus ``event_timestamp`` (UTC; NaT when the store has none)."""
        service = self.store().get_feature_service(self.feature_service_name)
        response = self.store().get_online_features(
            features=service, entity_rows=[{"symbol": s} for s in symbols]
        )
        frame = response.to_df(include_event_timestamps=True)
        stamp_columns = [c for c in frame.columns if c.endswith("__ts")]
        seconds = (
            frame[stamp_columns].max(axis=1).where(lambda s: s > 0)
        )  # Feast gives epoch seconds, 0 = none
        frame = frame.drop(columns=stamp_columns)
        frame["event_timestamp"] = pd.to_datetime(seconds, unit="s", utc=True)
        return frame
