"""Asset values on the lake: DataFrames as Parquet, small records as JSON, one file per asset.

The embedded default is a folder on local disk; the path layout mirrors asset keys
(``lake/<key>/<parts>.parquet``) so a person can open any layer with pandas or duckdb.
"""

import json
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext


class LakeIOManager(ConfigurableIOManager):
    """Stores each asset under ``base_dir``; writes atomically so a crash never leaves half a file."""

    base_dir: str

    def _stem(self, context: OutputContext | InputContext) -> Path:
        return Path(self.base_dir).joinpath(*context.asset_key.path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        stem = self._stem(context)
        stem.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, pd.DataFrame):
            target, tmp = stem.with_suffix(".parquet"), stem.with_suffix(".parquet.tmp")
            obj.to_parquet(tmp, index=False)
        else:
            target, tmp = stem.with_suffix(".json"), stem.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(obj, indent=2, default=str))
        tmp.replace(target)
        context.add_output_metadata({"path": str(target)})

    def load_input(self, context: InputContext) -> Any:
        stem = self._stem(context)
        if stem.with_suffix(".parquet").exists():
            return pd.read_parquet(stem.with_suffix(".parquet"))
        if stem.with_suffix(".json").exists():
            return json.loads(stem.with_suffix(".json").read_text())
        raise FileNotFoundError(
            f"asset {context.asset_key.to_user_string()} has no stored value under {stem}.*; "
            "materialise it first"
        )
