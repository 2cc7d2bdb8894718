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
    completed = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                               cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_feast_repo_applies_by_hand(tmp_path):
    env = {**os.environ, "QUANT_HOME": str(tmp_path)}
    completed = subprocess.run([str(BIN / "feast"), "-c", str(FEATURE_REPO_DIR), "apply"],
                               cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "feast" / "registry.db").exists()


def test_feature_repo_lists_the_core_features():
    sys.path.insert(0, str(FEATURE_REPO_DIR))
    try:
        import features as repo_features
    finally:
        sys.path.remove(str(FEATURE_REPO_DIR))
    assert tuple(repo_features.TECHNICAL_FEATURES) == tuple(FEATURE_COLUMNS)
