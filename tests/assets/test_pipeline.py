"""The whole graph, materialised once for real (Feast, MLflow, BentoML included) on a slice of real data."""

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, load_assets_from_modules, materialize

from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column
from quant_assets.definitions import ASSET_MODULES
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
    # validated_bars is partitioned by symbol: each partition's materialization counts its own rows
    records = pipeline.instance.fetch_materializations(AssetKey("validated_bars"), limit=100).records
    rows = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records}
    assert set(rows) == set(pipeline.settings.symbols)
    assert sum(rows.values()) == len(pipeline.value("validated_bars"))


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
    # Each row keeps its label's exit date through Feast, for the splits' purge.
    exits = training[["symbol", "date"]].merge(labels, how="left")["exit_date"]
    assert training["exit_date"].dtype == "datetime64[ns]" and training["exit_date"].equals(exits)
    assert (training["exit_date"] > training["date"]).all()
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
    assert len(run.data.tags["git_commit"]) in (40, len("unknown"))
    assert run.data.tags["model_sha256"] == candidate["model_sha256"]
    assert run.data.metrics["holdout_rmse"] == pytest.approx(candidate["metrics"]["rmse"])
    assert "wf_baseline_zero_rmse" in run.data.metrics and "wf_baseline_ridge_rank_ic" in run.data.metrics
    assert run.data.params["feature_service"] == "technical_v1"
    assert run.data.params["features"].split(",") == list(FEATURE_COLUMNS)
    per_fold = client.get_metric_history(candidate["run_id"], "fold_rmse")
    assert [m.step for m in per_fold] == [1, 2, 3, 4]
    artifacts = {a.path for a in client.list_artifacts(candidate["run_id"])}
    assert {
        "calibration.png",
        "feature_importance.png",
        "predicted_vs_realised.png",
        "calibration.json",
        "walk_forward.json",
        "candidate.json",
    } <= artifacts


def test_walk_forward_scores_model_and_baselines_on_the_same_purged_folds(pipeline):
    candidate = pipeline.value("model_candidate")
    training = pipeline.value("training_set")
    label = label_column(pipeline.settings.horizon_days)
    assert set(candidate["walk_forward"]) == {"xgboost", "zero", "momentum", "ridge"}
    for fold in candidate["folds"]:
        train_end = pd.Timestamp(fold["train"].split("..")[1])
        test_start, test_end = (pd.Timestamp(d) for d in fold["test"].split(".."))
        test = training[(training["date"] >= test_start) & (training["date"] <= test_end)]
        assert fold["n_test"] == len(test)
        # zero baseline's RMSE is the root mean square of the realised labels on exactly these rows
        assert fold["baselines"]["zero"]["rmse"] == pytest.approx(float(np.sqrt(np.mean(test[label] ** 2))))
        gap = training[(training["date"] > train_end) & (training["date"] < test_start)]["date"].nunique()
        assert gap == pipeline.settings.horizon_days + 1 + 5  # label span (h + 1) purged, 5-day embargo
    assert pd.Timestamp(candidate["train_end"]) < pd.Timestamp(candidate["valid_start"])
    assert candidate["valid_end"] == candidate["folds"][-1]["test"].split("..")[1]


def test_predictions_and_weights(pipeline):
    predictions = pipeline.value("predictions").set_index("symbol")
    assert set(predictions.index) == set(pipeline.settings.symbols)
    assert predictions["confidence"].between(0, 1).all()
    assert (predictions["as_of"] == pd.Timestamp("2018-02-07")).all()
    assert not predictions["unconfirmed"].any() and predictions["note"].isna().all()  # calm last bars
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
    tracking_uri = pipeline.settings.mlflow_tracking_uri
    result = pipeline.defs.resolve_job_def("retrain_job").execute_in_process(instance=pipeline.instance)
    second = result.asset_value("champion_model")
    challenger = result.asset_value("model_candidate")
    assert challenger["version"] != first["version"]
    assert challenger["metrics"]["rmse"] == first["metrics"]["rmse"]  # same data, same seed
    assert challenger["model_sha256"] == first["model_sha256"]  # bit-identical booster...
    model_files = [  # ...and bit-identical model files in MLflow
        Path(mlflow.artifacts.download_artifacts(f"models:/quant-assets-xgb/{v}", tracking_uri=tracking_uri))
        for v in (first["version"], challenger["version"])
    ]
    digests = [
        {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in d.iterdir()
            if p.suffix in (".ubj", ".json", ".xgb")
        }
        for d in model_files
    ]
    assert digests[0] and digests[0] == digests[1]
    assert second["gate"]["decision"] == "rejected"
    assert result.asset_value("bento")["model_version"] == first["version"]  # the rejected one never serves
    assert set(result.asset_value("predictions")["model_version"]) == {first["version"]}
    assert second["version"] == first["version"]
    client = mlflow.MlflowClient(tracking_uri=pipeline.settings.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias("quant-assets-xgb", CHAMPION).version) == first["version"]
    assert (
        str(client.get_model_version_by_alias("quant-assets-xgb", CHALLENGER).version)
        == challenger["version"]
    )
    tags = client.get_model_version("quant-assets-xgb", challenger["version"]).tags
    assert tags["gate_decision"] == "rejected"


def test_rollback_restores_the_previous_champion_and_serving_follows(pipeline, monkeypatch, capsys):
    """After a promotion, `quant rollback` brings back the old champion, rebuilds the bento for it, and
    re-running the gate on the already-judged challenger does not undo it."""
    from quant_assets.cli import main
    from quant_assets.definitions import build_resources

    registry = build_resources(pipeline.settings)["registry"]
    first, challenger = registry.alias_version(CHAMPION), registry.alias_version(CHALLENGER)
    assert challenger != first
    registry.promote(challenger)  # as if the challenger had won
    monkeypatch.setenv("QUANT_HOME", str(pipeline.settings.home))
    monkeypatch.setenv("QUANT_SYMBOLS", ",".join(pipeline.settings.symbols))
    monkeypatch.setenv("QUANT_MAX_WEIGHT", str(pipeline.settings.max_weight))
    assert main(["rollback"]) == 0
    assert f"champion is v{first} again (v{challenger} demoted)" in capsys.readouterr().out
    assert registry.alias_version(CHAMPION) == first
    assert registry.version_tags(challenger)["rolled_back"] == "true"
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["champion"]["version"] == first and status["previous_champion"]["version"] == challenger
    # The gate runs again on the same (already judged) challenger: it must not re-promote it.
    rerun = materialize(
        load_assets_from_modules(ASSET_MODULES),
        selection=[AssetKey("champion_model")],
        resources=build_resources(pipeline.settings),
        instance=pipeline.instance,
    )
    assert rerun.asset_value("champion_model")["gate"]["decision"] == "unchanged"
    assert registry.alias_version(CHAMPION) == first
