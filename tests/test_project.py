"""Project-level contracts: the Definitions load, the Feast repo works by hand, names stay in step."""

import os
import subprocess
import sys
from pathlib import Path

from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.settings import FEATURE_REPO_DIR, PROJECT_ROOT

BIN = Path(sys.executable).parent


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "QUANT_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_feast_repo_applies_by_hand(tmp_path):
    env = {**os.environ, "QUANT_HOME": str(tmp_path)}
    completed = subprocess.run(
        [str(BIN / "feast"), "-c", str(FEATURE_REPO_DIR), "apply"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "feast" / "registry.db").exists()


def test_feature_repo_lists_the_core_features():
    sys.path.insert(0, str(FEATURE_REPO_DIR))
    try:
        import features as repo_features
    finally:
        sys.path.remove(str(FEATURE_REPO_DIR))
    assert tuple(repo_features.TECHNICAL_FEATURES) == tuple(FEATURE_COLUMNS)


def test_asset_graph_lineage_snapshot():
    """The agreed lineage (DESIGN.md); a change to the graph must show up here in review."""
    from dagster import AssetCheckKey, AssetKey

    from quant_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    lineage = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert lineage == {
        "raw_bars": [],
        "validated_bars": ["raw_bars"],
        "quarantined_bars": ["raw_bars"],
        "technical_features": ["validated_bars"],
        "labels": ["validated_bars"],
        "feast_feature_views": ["technical_features"],
        "training_set": ["feast_feature_views", "labels"],
        "model_candidate": ["training_set"],
        "champion_model": ["model_candidate", "training_set"],
        "bento": ["champion_model"],
        "predictions": ["champion_model", "technical_features", "validated_bars"],
        "portfolio_weights": ["predictions", "validated_bars"],
        "portfolio_risk": ["portfolio_weights", "validated_bars"],
        "backtest": ["technical_features", "training_set", "validated_bars"],
        "model_monitoring": ["champion_model", "labels", "technical_features"],
        "trading_account": ["validated_bars"],
        "trading_targets": ["portfolio_weights", "trading_account", "validated_bars"],
        "target_orders": ["trading_account", "trading_targets", "validated_bars"],
        "submitted_orders": ["target_orders", "trading_targets"],
    }
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {
        ("validated_bars", "validated_bars_schema"),
        ("validated_bars", "validated_bars_cover_universe"),
        ("trading_account", "ledger_matches_broker"),
        *{("trading_targets", f"limit_{name}") for name in
          ("max_weight", "min_names", "max_var_95_1d", "max_turnover", "never_trade")},
    }  # fmt: skip
    for key in graph.asset_check_keys:  # the trading checks stop the orders
        if key.asset_key.to_user_string().startswith("trading_"):
            assert graph.get_check_spec(key).blocking
    assert graph.get_check_spec(AssetCheckKey(AssetKey("validated_bars"), "validated_bars_schema")).blocking
