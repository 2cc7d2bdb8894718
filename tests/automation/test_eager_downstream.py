"""New bars flow down the graph on their own (eager automation), and one missing symbol blocks nobody."""

from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.definitions import build_definitions
from quant_assets.settings import BUNDLED_DATA_DIR, Settings

DOWNSTREAM = ("technical_features", "labels", "feast_feature_views")


def _requested(result) -> set[str]:
    return {key for key in DOWNSTREAM if result.get_num_requested(AssetKey(key))}


def test_new_bars_request_the_downstream_layers_even_with_a_symbol_not_yet_ingested(tmp_path):
    settings = Settings(
        home=tmp_path, data_dir=BUNDLED_DATA_DIR, symbols=("AAPL", "ABT"), horizon_days=5, max_weight=0.5
    )
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    ingest = defs.resolve_job_def("ingestion_job")
    symbols = add_symbols(instance, settings.symbols)
    assert ingest.execute_in_process(instance=instance, tags=range_tags(symbols[0], symbols[-1])).success

    first = evaluate_automation_conditions(defs=defs, instance=instance)  # the daemon's first look
    ingest.execute_in_process(instance=instance, tags=range_tags("AAPL", "AAPL"))  # a new day for AAPL
    second = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert _requested(second) == set(DOWNSTREAM)
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert _requested(quiet) == set()  # nothing new, nothing requested

    # A symbol just added (its ingestion not run yet, or failed) must not hold back AAPL's new bars.
    instance.add_dynamic_partitions("symbols", ["NEWCO"])
    ingest.execute_in_process(instance=instance, tags=range_tags("AAPL", "AAPL"))
    third = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert _requested(third) == set(DOWNSTREAM)
    # ... and the features built then cover the symbols that have bars.
    features = (
        defs.resolve_implicit_global_asset_job_def()
        .execute_in_process(instance=instance, asset_selection=[AssetKey("technical_features")])
        .asset_value("technical_features")
    )
    assert set(features["symbol"]) == {"AAPL", "ABT"}
