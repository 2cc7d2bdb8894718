"""A label chosen by configuration (QUANT_LABEL=rank) flows through the whole graph: the model learns
per-date ranks, its record carries the label and the score -> return scale, and predictions, serving,
monitoring and the gate read expected returns; the backtest replays the same label.

Named to sort after test_pipeline.py, as test_switch_feature_set.py does: it builds platforms of its
own in the same process, after the shared pipeline fixture's has registered its models.
"""

import sys
from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from dagster import DagsterInstance
from fixture_paths import SMALL_UNIVERSE_LIMITS

from quant_assets.assets.backtest import BacktestSettings
from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.core.backtest import run_backtest
from quant_assets.core.confidence import DirectionCalibration, direction_confidence
from quant_assets.core.cross_section import ReturnScale
from quant_assets.core.labels import EXIT_DATE, label_column
from quant_assets.definitions import build_definitions, build_resources
from quant_assets.settings import BUNDLED_DATA_DIR, PROJECT_ROOT, Settings

# bentos/ is a folder the bento build includes, not an installed package (package.py does the same)
sys.path.insert(0, str(PROJECT_ROOT))
from bentos.forecaster import Forecaster, open_feature_store  # noqa: E402

SYMBOLS = ("AAPL", "ABT", "AMZN", "ADBE")
QUICK = {
    "model_candidate": {"config": {"extra_seeds": [], "n_folds": 2}},
    "backtest": {"config": {"span_days": 63, "retrain_days": 63}},
}
LABEL = label_column(5)


def run_everything(settings: Settings, instance: DagsterInstance):
    defs = build_definitions(settings)
    symbols = add_symbols(instance, settings.symbols)
    result = defs.resolve_job_def("everything_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags=range_tags(symbols[0], symbols[-1]),
        run_config={"ops": QUICK},
    )
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    return result


def scale_by_hand(training_set: pd.DataFrame, record: dict) -> tuple[float, float]:
    """The challenger's training rows (until train_end, every name of a date known before its holdout
    opens), their newest 252 dates: the mean of the per-date means and of the per-date (population) std."""
    known_by = training_set.groupby("date")[EXIT_DATE].transform("max")
    rows = training_set[
        (training_set["date"] <= record["train_end"]) & (known_by < pd.Timestamp(record["valid_start"]))
    ]
    newest = rows[rows["date"].isin(np.sort(rows["date"].unique())[-252:])]
    per_date = newest.groupby("date")[LABEL]
    return per_date.mean().mean(), per_date.std(ddof=0).mean()


def packaged_forecaster(settings: Settings, model_tag: str) -> Forecaster:
    """The bento's Forecaster, built from what package.py stored: the booster and its metadata."""
    name, version = model_tag.split(":")
    folder = settings.bentoml_home / "models" / name / version
    info = yaml.safe_load((folder / "model.yaml").read_text())
    booster = xgb.Booster()
    booster.load_model(str(next(folder.glob("*.ubj"))))
    return Forecaster(booster, info["metadata"], open_feature_store(settings.home))


@pytest.fixture(scope="module")
def ranked(tmp_path_factory) -> tuple[Settings, DagsterInstance, object]:
    """One run of the whole graph with QUANT_LABEL=rank, in a platform of its own."""
    home = tmp_path_factory.mktemp("label_home")
    settings = Settings(home=home, data_dir=BUNDLED_DATA_DIR, symbols=SYMBOLS, horizon_days=5,
                        max_weight=0.5, label="rank", risk_limits_file=SMALL_UNIVERSE_LIMITS)  # fmt: skip
    instance = DagsterInstance.ephemeral()
    return settings, instance, run_everything(settings, instance)


def test_the_model_learns_ranks_and_records_its_score_to_return_scale(ranked):
    settings, _, result = ranked
    training_set = result.asset_value("training_set")
    candidate = result.asset_value("model_candidate")
    assert candidate["label"] == "rank"
    mean, dispersion = scale_by_hand(training_set, candidate)
    scale = candidate["return_scale"]
    assert scale["mean"] == pytest.approx(mean) and scale["dispersion"] == pytest.approx(dispersion)
    assert 0.005 < dispersion < 0.2  # a 5-day return's cross-sectional spread, not a rank's (~1)
    run = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri).get_run(candidate["run_id"]).data
    assert run.params["label"] == "rank" and run.tags["label"] == "rank"
    assert float(run.params["return_scale_dispersion"]) == pytest.approx(dispersion)
    champion = result.asset_value("champion_model")
    assert champion["version"] == candidate["version"] and champion["return_scale"] == scale


def test_predictions_and_serving_are_expected_returns(ranked):
    settings, _, result = ranked
    champion = result.asset_value("champion_model")
    scale = ReturnScale.from_dict(champion["return_scale"])
    predictions = result.asset_value("predictions").set_index("symbol")
    assert set(predictions.index) == set(SYMBOLS)
    # prediction = expected 5-day return: the rank score through the recorded scale
    assert predictions["prediction"].to_numpy() == pytest.approx(
        scale.mean + scale.dispersion * predictions["score"].to_numpy()
    )
    assert predictions["score"].abs().max() > 3 * (predictions["prediction"] - scale.mean).abs().max()
    calibration = DirectionCalibration(**{k: tuple(v) for k, v in champion["calibration"].items()})
    assert (predictions["confidence"] == direction_confidence(predictions["prediction"], calibration)).all()

    forecaster = packaged_forecaster(settings, result.asset_value("bento")["model_tag"])
    assert forecaster.label == "rank" and forecaster.return_scale == scale
    online = forecaster.online_features(list(SYMBOLS))
    served, confidence = forecaster.predict([online[s].values for s in SYMBOLS])
    assert served == pytest.approx(predictions.loc[list(SYMBOLS), "prediction"].to_numpy(), abs=1e-7)
    assert confidence == pytest.approx(predictions.loc[list(SYMBOLS), "confidence"].to_numpy())

    # Monitoring compares expected returns with realised returns: its error is in return units
    monitoring = result.asset_value("model_monitoring")
    assert monitoring["label"] == "rank" and 0.3 < monitoring["ratio"] < 3


def test_the_backtest_replays_the_configured_label(ranked):
    """The same models as the core replay with rank labels, not those of the raw return."""
    settings, _, result = ranked
    replayed = [m["sha256"] for m in result.asset_value("backtest")["models"]]
    config = BacktestSettings(**QUICK["backtest"]["config"]).to_config(build_resources(settings)["platform"])
    assert config.replay.label_transform == "rank"
    inputs = (
        result.asset_value("validated_bars"), result.asset_value("technical_features"),
        result.asset_value("training_set"), result.asset_value("champion_model")["feature_names"], LABEL,
    )  # fmt: skip
    assert replayed == [m.fingerprint for m in run_backtest(*inputs, config).replay.models]
    raw = replace(config, replay=replace(config.replay, label_transform=None))
    assert replayed != [m.fingerprint for m in run_backtest(*inputs, raw).replay.models]


def test_back_to_the_raw_return_the_gate_scores_both_as_expected_returns(ranked):
    settings, instance, _ = ranked
    back = run_everything(replace(settings, label="return"), instance)
    challenger = back.asset_value("model_candidate")
    assert challenger["label"] == "return" and challenger["return_scale"]["dispersion"] == 1.0
    champion = back.asset_value("champion_model")
    assert champion["gate"]["decision"] in ("promoted", "rejected")
    assert champion["gate"]["reason"].startswith(
        "label changed from rank to return; both scored as expected returns"
    )
    after = back.asset_value("predictions")
    expected = ReturnScale.from_dict(champion.get("return_scale")).to_returns(after["score"].to_numpy())
    assert after["prediction"].to_numpy() == pytest.approx(expected)
    assert set(after["model_version"]) == {champion["version"]}
