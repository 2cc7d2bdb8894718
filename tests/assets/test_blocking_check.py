"""A failing blocking check on validated bars must stop everything downstream of them (in that run).

validated_bars is partitioned by symbol; these runs hold one symbol, AAA.
"""

import pandas as pd
from dagster import AssetKey, DagsterInstance, asset, materialize

from quant_assets.assets.features import technical_features
from quant_assets.assets.ingestion import SYMBOLS, validated_bars_schema
from quant_assets.resources.lake import LakeIOManager
from quant_assets.resources.platform import PlatformConfig

PLATFORM = PlatformConfig(data_dir=".", symbols=["AAA"])  # technical_features reads its feature set here


def test_schema_violation_blocks_features(tmp_path):
    @asset(name="validated_bars", partitions_def=SYMBOLS)
    def broken_validated_bars() -> pd.DataFrame:
        """What a bug in validation would let through: a duplicate date and a negative price."""
        dates = pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03"])
        return pd.DataFrame(
            {
                "symbol": "AAA",
                "date": dates,
                "open": [1.0, 1.0, -1.0],
                "high": [2.0, 2.0, 2.0],
                "low": [0.5, 0.5, 0.5],
                "close": [1.5, 1.5, 1.5],
                "volume": [10.0, 10.0, 10.0],
            }
        )

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SYMBOLS.name, ["AAA"])
    result = materialize(
        [broken_validated_bars, validated_bars_schema, technical_features],
        resources={"io_manager": LakeIOManager(base_dir=str(tmp_path)), "platform": PLATFORM},
        instance=instance,
        raise_on_error=False,
        partition_key="AAA",
    )
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    assert "failure_cases" in checks[0].metadata
    assert instance.get_latest_materialization_event(AssetKey("technical_features")) is None
    assert not (tmp_path / "technical_features.parquet").exists()


def test_valid_bars_pass_the_check_and_flow(tmp_path):
    @asset(name="validated_bars", partitions_def=SYMBOLS)
    def good_validated_bars() -> pd.DataFrame:
        dates = pd.bdate_range("2020-01-01", periods=30)
        close = pd.Series(range(30), dtype=float) + 10
        return pd.DataFrame(
            {
                "symbol": "AAA",
                "date": dates,
                "open": close,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": 100.0,
            }
        )

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SYMBOLS.name, ["AAA"])
    result = materialize(
        [good_validated_bars, validated_bars_schema, technical_features],
        resources={"io_manager": LakeIOManager(base_dir=str(tmp_path)), "platform": PLATFORM},
        instance=instance,
        partition_key="AAA",
    )
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    assert len(result.asset_value("technical_features")) == 30
