"""A feature set chosen by configuration flows through the whole graph: features, Feast, training, the
gate, predictions and the backtest; switching sets replaces the champion with a stated reason."""

from dataclasses import replace

from dagster import DagsterInstance
from fixture_paths import SMALL_UNIVERSE_LIMITS

from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.core.alpha_features import ALPHA_FEATURE_COLUMNS
from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.definitions import build_definitions
from quant_assets.settings import BUNDLED_DATA_DIR, Settings

SYMBOLS = ("AAPL", "ABT", "AMZN")
QUICK = {
    "model_candidate": {"config": {"extra_seeds": [], "n_folds": 2}},
    "backtest": {"config": {"span_days": 63, "retrain_days": 63}},
}


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


def test_alpha158_by_configuration_then_back_to_technical_v1(tmp_path):
    settings = Settings(home=tmp_path, data_dir=BUNDLED_DATA_DIR, symbols=SYMBOLS, horizon_days=5,
                        max_weight=0.5, feature_set="alpha158",
                        risk_limits_file=SMALL_UNIVERSE_LIMITS)  # fmt: skip
    instance = DagsterInstance.ephemeral()
    alpha = run_everything(settings, instance)
    features = alpha.asset_value("technical_features")
    assert list(features.columns) == ["symbol", "date", *ALPHA_FEATURE_COLUMNS]
    assert alpha.asset_value("feast_feature_views")["feature_service"] == "alpha158"
    champion = alpha.asset_value("champion_model")
    assert champion["feature_service"] == "alpha158" and champion["feature_names"] == list(
        ALPHA_FEATURE_COLUMNS
    )
    assert set(alpha.asset_value("predictions")["symbol"]) == set(SYMBOLS)
    assert len(alpha.asset_value("backtest")["models"]) >= 1

    back = run_everything(replace(settings, feature_set="technical_v1"), instance)
    champion = back.asset_value("champion_model")
    assert champion["feature_names"] == list(FEATURE_COLUMNS)
    assert champion["gate"]["decision"] == "promoted"
    assert "feature set changed from alpha158 to technical_v1" in champion["gate"]["reason"]
    assert set(back.asset_value("predictions")["symbol"]) == set(SYMBOLS)
