"""Symbols as partitions: one partition per universe symbol, and a symbol blocked by the schema check
stays out of downstream reads while the other symbols flow."""

import pandas as pd
from dagster import AssetCheckKey, AssetKey, DagsterInstance, asset, materialize

from quant_assets.assets.features import technical_features
from quant_assets.assets.ingestion import SYMBOLS, validated_bars_schema
from quant_assets.automation.jobs import add_symbols, range_tags, symbol_ranges
from quant_assets.definitions import build_resources
from quant_assets.resources.lake import blocked_partitions
from quant_assets.settings import Settings


def _bars(symbol: str, days: int = 30) -> pd.DataFrame:
    close = pd.Series(range(days), dtype=float) + 10
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.bdate_range("2020-01-01", periods=days),
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 100.0,
        }
    )


@asset(name="validated_bars", partitions_def=SYMBOLS)
def validated_bars_with_one_bad_symbol(context) -> pd.DataFrame:
    """BAD's bars break the schema (a negative open), as a bug in validation would let through."""
    frames = [_bars(symbol) for symbol in context.partition_keys]
    bars = pd.concat(frames, ignore_index=True)
    bars.loc[(bars["symbol"] == "BAD") & (bars.index % 7 == 0), "open"] = -1.0
    return bars


def test_a_blocked_symbol_is_left_out_of_downstream_reads_and_the_others_flow(tmp_path):
    instance = DagsterInstance.ephemeral()
    symbols = add_symbols(instance, ["AAA", "BAD", "CCC", "NEVER"])  # NEVER: a partition never stored
    built = build_resources(Settings(tmp_path, tmp_path, (), 5, 0.5))
    resources = {"io_manager": built["io_manager"], "platform": built["platform"]}
    assets = [validated_bars_with_one_bad_symbol, validated_bars_schema, technical_features]

    blocked_run = materialize(
        assets, resources=resources, instance=instance, raise_on_error=False, tags=range_tags("AAA", "CCC")
    )
    assert not blocked_run.success  # the blocking check stops technical_features in this run
    assert instance.get_latest_materialization_event(AssetKey("technical_features")) is None
    outcome = {c.partition: c.passed for c in blocked_run.get_asset_check_evaluations()}
    assert outcome == {"AAA": True, "BAD": False, "CCC": True}
    check = AssetCheckKey(AssetKey("validated_bars"), "validated_bars_schema")
    assert blocked_partitions(instance, [check]) == {"BAD"}
    assert sorted(p.name for p in (tmp_path / "lake" / "validated_bars").iterdir()) == [
        "AAA.parquet",
        "BAD.parquet",
        "CCC.parquet",
    ]

    # A later run of the unpartitioned layer alone (as eager automation starts it, without the check)
    # reads every partition: BAD (blocked) and NEVER (no stored value) are skipped, AAA and CCC flow.
    downstream = materialize(
        [validated_bars_with_one_bad_symbol, technical_features],
        selection=["technical_features"],
        resources=resources,
        instance=instance,
    )
    features = downstream.asset_value("technical_features")
    assert sorted(features["symbol"].unique()) == ["AAA", "CCC"] and len(features) == 60
    assert symbols == ["AAA", "BAD", "CCC", "NEVER"]


def test_symbol_ranges_cover_exactly_the_wanted_symbols_in_partition_order():
    ordered = ["AAPL", "ABT", "ADBE", "AMZN", "MSFT"]
    assert symbol_ranges(ordered, ["MSFT", "AMZN"]) == [("AMZN", "MSFT")]
    assert symbol_ranges(ordered, ["AAPL", "ADBE", "MSFT"]) == [
        ("AAPL", "AAPL"),
        ("ADBE", "ADBE"),
        ("MSFT", "MSFT"),
    ]
    assert symbol_ranges(ordered, ordered) == [("AAPL", "MSFT")]


def test_the_pipeline_has_one_partition_per_universe_symbol(pipeline):
    partitions = pipeline.instance.get_dynamic_partitions(SYMBOLS.name)
    assert partitions == list(pipeline.settings.symbols)
    lake = pipeline.settings.lake_dir
    for key in ("raw_bars", "validated_bars", "quarantined_bars"):
        assert sorted(p.stem for p in (lake / key).glob("*.parquet")) == sorted(partitions), key
    # the long frame every downstream layer reads is the concatenation of the partitions
    assert sorted(pipeline.value("validated_bars")["symbol"].unique()) == sorted(partitions)
