"""The whole graph, materialised once for real (Feast, MLflow, BentoML included) on a slice of real data."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey

from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column
from quant_assets.resources.model_registry import CHALLENGER, CHAMPION

ALL_ASSETS = (
    "raw_bars",
    "validated_bars",
    "quarantined_bars",
    "technical_features",
    "labels",
    "feast_feature_views",
    "training_set",
    "model_candidate",
    "champion_model",
    "bento",
    "predictions",
    "portfolio_weights",
    "model_monitoring",
)


def test_every_asset_is_materialised_with_metadata(pipeline):
    for key in ALL_ASSETS:
        event = pipeline.instance.get_latest_materialization_event(AssetKey(key))
        assert event is not None, key
        assert event.asset_materialization.metadata, f"{key} has no metadata"
    meta = pipeline.instance.get_latest_materialization_event(
        AssetKey("validated_bars")
    ).asset_materialization.metadata
    assert meta["dagster/row_count"].value == len(pipeline.value("validated_bars"))


def test_bad_real_row_is_quarantined_and_the_rest_of_the_symbol_flows(pipeline):
    quarantined = pipeline.value("quarantined_bars")
    assert quarantined[["symbol", "reason"]].values.tolist() == [["BHF", "missing value"]]
    valid = pipeline.value("validated_bars")
    assert (valid["symbol"] == "BHF").sum() == 142


def test_training_set_joins_features_of_the_same_date_never_later(pipeline):
    """Point-in-time: every training row carries exactly the features computed at its own date."""
    training = pipeline.value("training_set")
    features = pipeline.value("technical_features")
    merged = training.merge(features, on=["symbol", "date"], suffixes=("_train", "_feat"), how="left")
    assert len(merged) == len(training)
    for name in FEATURE_COLUMNS:
        assert np.allclose(merged[f"{name}_train"], merged[f"{name}_feat"], equal_nan=True), name
    labels = pipeline.value("labels")
    label = label_column(pipeline.settings.horizon_days)
    assert training[label].tolist() == training[["symbol", "date"]].merge(labels, how="left")[label].tolist()
    # The newest h days of each symbol have no known future, so they never reach training.
    last_label = training.groupby("symbol")["date"].max()
    last_bar = pipeline.value("validated_bars").groupby("symbol")["date"].max()
    assert (last_label < last_bar).all()


def test_online_features_equal_the_newest_offline_row(pipeline):
    from quant_assets.definitions import build_resources

    feast = build_resources(pipeline.settings)["feast"]
    symbols = ["AAPL", "ABT", "BHF"]
    online = feast.online_features(symbols).set_index("symbol")
    features = pipeline.value("technical_features")
    newest = features.sort_values("date").groupby("symbol").tail(1).set_index("symbol")
    for symbol in symbols:
        for name in FEATURE_COLUMNS:
            offline_value = newest.loc[symbol, name]
            online_value = online.loc[symbol, name]
            if pd.isna(offline_value):
                assert pd.isna(online_value), (symbol, name)
            else:
                assert online_value == pytest.approx(offline_value, rel=1e-12), (symbol, name)
        # event time = the trading date, midnight UTC
        assert online.loc[symbol, "event_timestamp"] == newest.loc[symbol, "date"].tz_localize("UTC")


def test_model_is_registered_as_champion_with_its_run(pipeline):
    champion = pipeline.value("champion_model")
    candidate = pipeline.value("model_candidate")
    assert champion["gate"]["decision"] == "promoted" and champion["version"] == candidate["version"]
    client = mlflow.MlflowClient(tracking_uri=pipeline.settings.mlflow_tracking_uri)
    name = "quant-assets-xgb"
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == champion["version"]
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == champion["version"]
    run = client.get_run(candidate["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster_run_id"] == pipeline.result.run_id
    assert run.data.metrics["valid_rmse"] == pytest.approx(candidate["metrics"]["rmse"])
    assert "baseline_zero_rmse" in run.data.metrics
    assert run.data.params["feature_service"] == "technical_v1"


def test_model_beats_nothing_it_should_not_claim(pipeline):
    """Metrics are computed on the purged hold-out only and the baselines on the very same rows."""
    candidate = pipeline.value("model_candidate")
    training = pipeline.value("training_set")
    holdout = training[training["date"] >= candidate["valid_start"]]
    label = label_column(pipeline.settings.horizon_days)
    zero_rmse = float(np.sqrt(np.mean(holdout[label] ** 2)))
    assert candidate["baselines"]["zero"]["rmse"] == pytest.approx(zero_rmse)
    assert pd.Timestamp(candidate["train_end"]) < pd.Timestamp(candidate["valid_start"])
    gap = training[
        (training["date"] > candidate["train_end"]) & (training["date"] < candidate["valid_start"])
    ]
    assert gap["date"].nunique() == pipeline.settings.horizon_days


def test_predictions_and_weights(pipeline):
    predictions = pipeline.value("predictions").set_index("symbol")
    assert set(predictions.index) == set(pipeline.settings.symbols)
    assert predictions["confidence"].between(0, 1).all()
    assert (predictions["as_of"] == pd.Timestamp("2018-02-07")).all()
    weights = pipeline.value("portfolio_weights").set_index("symbol")["weight"]
    assert weights.sum() == pytest.approx(1.0)
    assert (weights >= 0).all() and (weights <= pipeline.settings.max_weight + 1e-6).all()
    meta = pipeline.instance.get_latest_materialization_event(
        AssetKey("portfolio_weights")
    ).asset_materialization.metadata
    assert meta["method"].value in ("max_sharpe", "min_volatility")


def test_bento_is_built_from_the_champion(pipeline):
    bento = pipeline.value("bento")
    assert bento["bento_tag"].startswith("quant_forecaster:")
    assert bento["model_version"] == pipeline.value("champion_model")["version"]
    assert (pipeline.settings.bentoml_home / "bentos" / "quant_forecaster").is_dir()


def test_retraining_on_the_same_data_does_not_replace_the_champion(pipeline):
    """The gate needs a strictly better challenger: an identical retrain is rejected, serving untouched."""
    first = pipeline.value("champion_model")
    result = pipeline.defs.resolve_job_def("retrain_job").execute_in_process(instance=pipeline.instance)
    second = result.asset_value("champion_model")
    challenger = result.asset_value("model_candidate")
    assert challenger["version"] != first["version"]
    assert challenger["metrics"]["rmse"] == pytest.approx(first["metrics"]["rmse"])  # same data, same seed
    assert second["gate"]["decision"] == "rejected"
    assert second["version"] == first["version"]
    client = mlflow.MlflowClient(tracking_uri=pipeline.settings.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias("quant-assets-xgb", CHAMPION).version) == first["version"]
    assert (
        str(client.get_model_version_by_alias("quant-assets-xgb", CHALLENGER).version)
        == challenger["version"]
    )
    tags = client.get_model_version("quant-assets-xgb", challenger["version"]).tags
    assert tags["gate_decision"] == "rejected"
