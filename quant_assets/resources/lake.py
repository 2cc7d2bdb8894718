"""Asset values on the lake: DataFrames as Parquet, small records as JSON, one file per asset or partition.

The embedded default is a folder on local disk; the path layout mirrors asset keys
(``lake/<key>.parquet``, and ``lake/<key>/<SYMBOL>.parquet`` for a symbol-partitioned asset) so a person
can open any layer with pandas or duckdb (``read_parquet('lake/validated_bars/*.parquet')``).

A run over many symbols hands over one long frame; it is split by its ``symbol`` column, one file per
partition (an empty file for a symbol without rows, so "materialised, nothing there" differs from
"never materialised"). Reading all partitions gives one long frame again and skips, with a log line, a
partition that has no stored value or whose latest blocking check failed: one bad symbol must not stop
the others from flowing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetCheckKey, ConfigurableIOManager, DagsterInstance, InputContext, OutputContext

from quant_assets.framework_internals import AssetCheckExecutionRecordStatus

PARTITION_COLUMN = "symbol"


def partition_file(base_dir: Path | str, asset: str, partition: str) -> Path:
    """Where one partition lives; refuses keys that would escape the asset's folder."""
    if not partition or "/" in partition or "\\" in partition or partition.startswith("."):
        raise ValueError(f"{asset}: partition key {partition!r} cannot be a file name")
    return Path(base_dir) / asset / f"{partition}.parquet"


def split_by_partition(frame: pd.DataFrame, keys: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Each key's rows (by the ``symbol`` column); an empty frame with the same columns for a key without."""
    groups = dict(iter(frame.groupby(PARTITION_COLUMN, sort=False))) if len(frame) else {}
    return {key: groups.get(key, frame.iloc[0:0]) for key in keys}


def stored_partitions(base_dir: Path | str, asset: str) -> list[str]:
    """Partition keys with a stored file, sorted."""
    folder = Path(base_dir) / asset
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


def read_partitions(
    base_dir: Path | str, asset: str, partitions: Iterable[str] | None = None, log=None
) -> pd.DataFrame:
    """One long frame of the given partitions (default: all stored); missing ones are logged and skipped."""
    keys = stored_partitions(base_dir, asset) if partitions is None else list(partitions)
    frames, missing = [], []
    for key in keys:
        path = partition_file(base_dir, asset, key)
        if path.exists():
            frames.append(pd.read_parquet(path))
        else:
            missing.append(key)
    if missing and log is not None:
        listed = ", ".join(missing[:20])
        log.info(f"{asset}: {len(missing)} partition(s) have no stored value, skipped: {listed}")
    if not frames:
        raise FileNotFoundError(
            f"asset {asset} has no stored partition under {Path(base_dir) / asset}; materialise it first"
        )
    non_empty = [f for f in frames if len(f)]
    return pd.concat(non_empty, ignore_index=True) if non_empty else frames[0]


def blocked_partitions(instance: DagsterInstance, checks: Sequence[AssetCheckKey]) -> set[str]:
    """Partitions whose latest evaluation of one of these (blocking) checks failed."""
    if not checks:
        return set()
    return {
        info.partition_key
        for info in instance.event_log_storage.get_asset_check_partition_info(list(checks))
        if info.partition_key is not None
        and info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
    }


def _blocking_checks(context: InputContext, configured: dict[str, list[str]]) -> list[AssetCheckKey]:
    """The asset's blocking checks (configured, plus any in this job), unless the reader is one of them.

    A check must see every row it judges; every other reader skips what a blocking check rejected. The
    configured list matters for runs without the checks (eager automation, retraining).
    """
    layer = context.step_context.job_def.asset_layer
    reader = layer.get_assets_def_for_node(context.step_context.node_handle)
    if reader is not None and any(k.asset_key == context.asset_key for k in reader.check_keys):
        return []
    keys = {
        AssetCheckKey(context.asset_key, name)
        for name in configured.get(context.asset_key.to_user_string(), [])
    }
    graph = layer.asset_graph
    if graph.has(context.asset_key):
        keys |= {k for k in graph.get(context.asset_key).check_keys if graph.get_check_spec(k).blocking}
    return sorted(keys, key=lambda k: k.name)


class LakeIOManager(ConfigurableIOManager):
    """Stores each asset under ``base_dir``; writes atomically so a crash never leaves half a file."""

    base_dir: str
    # asset key -> names of its blocking checks, whose failed partitions readers skip
    blocking_checks: dict[str, list[str]] = {}

    def _stem(self, context: OutputContext | InputContext) -> Path:
        return Path(self.base_dir).joinpath(*context.asset_key.path)

    def _asset(self, context: OutputContext | InputContext) -> str:
        return "/".join(context.asset_key.path)

    @staticmethod
    def _write(frame: pd.DataFrame, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(target)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if context.has_asset_partitions:
            self._write_partitions(context, obj)
            return
        stem = self._stem(context)
        stem.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, pd.DataFrame):
            target = stem.with_suffix(".parquet")
            self._write(obj, target)
        else:
            target, tmp = stem.with_suffix(".json"), stem.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(obj, indent=2, default=str))
            tmp.replace(target)
        context.add_output_metadata({"path": str(target)})

    def _write_partitions(self, context: OutputContext, frame: Any) -> None:
        asset, keys = self._asset(context), list(context.asset_partition_keys)
        if not isinstance(frame, pd.DataFrame) or PARTITION_COLUMN not in frame.columns:
            raise TypeError(
                f"{asset}: a symbol-partitioned asset must return a DataFrame with a `symbol` column"
            )
        stray = sorted(set(frame[PARTITION_COLUMN].dropna().unique()) - set(keys))
        if stray or frame[PARTITION_COLUMN].isna().any():
            raise ValueError(
                f"{asset}: rows for symbols outside this run's partitions ({', '.join(map(str, stray[:10]))}"
                f"{' and rows without a symbol' if frame[PARTITION_COLUMN].isna().any() else ''})"
            )
        for key, part in split_by_partition(frame, keys).items():
            self._write(part, partition_file(self.base_dir, asset, key))
        context.add_output_metadata({"path": str(Path(self.base_dir) / asset)})

    def load_input(self, context: InputContext) -> Any:
        if context.has_asset_partitions:
            return self._read_partitions(context)
        stem = self._stem(context)
        if stem.with_suffix(".parquet").exists():
            return pd.read_parquet(stem.with_suffix(".parquet"))
        if stem.with_suffix(".json").exists():
            return json.loads(stem.with_suffix(".json").read_text())
        raise FileNotFoundError(
            f"asset {context.asset_key.to_user_string()} has no stored value under {stem}.*; "
            "materialise it first"
        )

    def _read_partitions(self, context: InputContext) -> pd.DataFrame:
        asset, keys = self._asset(context), list(context.asset_partition_keys)
        if not keys:  # an instance that never saw the partitions (another DAGSTER_HOME): trust the lake
            keys = stored_partitions(self.base_dir, asset)
            context.log.info(f"{asset}: no partitions known to this instance; reading the {len(keys)} stored")
        blocked = blocked_partitions(context.instance, _blocking_checks(context, self.blocking_checks))
        if blocked & set(keys):
            skipped = sorted(blocked & set(keys))
            context.log.warning(
                f"{asset}: skipping {len(skipped)} partition(s) whose blocking check failed: "
                f"{', '.join(skipped[:20])}"
            )
        return read_partitions(self.base_dir, asset, [k for k in keys if k not in blocked], context.log)
