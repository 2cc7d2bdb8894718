"""A trading day, untouched by hand: bars land -> sensor ingests -> automation carries them to forecasts.

The whole graph runs once on two bundled symbols; then the next session's bars are dropped in the
landing zone, and only what the sensors and the automation conditions ask for is executed, as the
daemon would. The new session must reach the features, the online store and the predictions.
"""

import pandas as pd
from dagster import DagsterInstance, build_sensor_context, evaluate_automation_conditions
from fixture_paths import SMALL_UNIVERSE_LIMITS

from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.automation.symbol_sensors import landing_zone_sensor
from quant_assets.definitions import build_definitions
from quant_assets.settings import BUNDLED_DATA_DIR, Settings

SYMBOLS = ("AAPL", "ABT")
NEXT_SESSION = """date,open,high,low,close,volume,Name
2018-02-08,160.29,161.00,155.03,155.15,54390516,AAPL
2018-02-08,60.12,60.65,57.72,57.80,9123451,ABT
"""


def test_a_new_session_flows_from_the_landing_zone_to_the_forecasts(tmp_path):
    settings = Settings(
        home=tmp_path / "home", data_dir=BUNDLED_DATA_DIR, symbols=SYMBOLS, horizon_days=5, max_weight=0.5,
        risk_limits_file=SMALL_UNIVERSE_LIMITS,
    )
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    symbols = add_symbols(instance, SYMBOLS)
    first = defs.resolve_job_def("everything_job").execute_in_process(
        instance=instance, tags=range_tags(symbols[0], symbols[-1])
    )
    assert first.success
    assert set(first.asset_value("predictions")["as_of"]) == {pd.Timestamp("2018-02-07")}
    ticks = evaluate_automation_conditions(defs=defs, instance=instance)  # the daemon's first look
    landing = defs.resources["landing"]
    sensed = landing_zone_sensor(build_sensor_context(instance=instance, resources={"landing": landing}))
    assert not sensed.run_requests  # nothing landed yet

    zone = tmp_path / "home" / "landing" / "drops"
    zone.mkdir(parents=True)
    (zone / "session-2018-02-08.csv").write_text(NEXT_SESSION)
    sensed = landing_zone_sensor(
        build_sensor_context(instance=instance, resources={"landing": landing}, cursor=sensed.cursor)
    )
    (request,) = sensed.run_requests
    ingest = defs.resolve_job_def("ingestion_job")
    assert ingest.execute_in_process(instance=instance, tags=request.tags).success

    ticks = evaluate_automation_conditions(defs=defs, instance=instance, cursor=ticks.cursor)
    unpartitioned = [
        key for key in defs.resolve_asset_graph().get_all_asset_keys()
        if not defs.get_assets_def(key).partitions_def
    ]  # fmt: skip
    requested = [key for key in unpartitioned if ticks.get_num_requested(key)]
    names = {key.to_user_string() for key in requested}
    assert {
        "technical_features",
        "labels",
        "feast_feature_views",
        "predictions",
        "portfolio_weights",
    } <= names
    assert not names & {"model_candidate", "champion_model", "bento"}  # retraining is the drift sensor's call
    run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=requested
    )
    assert run.success
    forecasts = run.asset_value("predictions")
    assert set(forecasts["symbol"]) == set(SYMBOLS)
    assert (forecasts["as_of"] == pd.Timestamp("2018-02-08")).all()
    assert set(forecasts["model_version"]) == {first.asset_value("champion_model")["version"]}
    online = defs.resources["feast"].online_features(list(SYMBOLS))
    assert (online["event_timestamp"] == pd.Timestamp("2018-02-08", tz="UTC")).all()
