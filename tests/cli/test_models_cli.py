"""`quant train`: walk-forward evaluation of files from the command line, no registry touched."""

import json

from quant_assets.cli import main
from quant_assets.settings import BUNDLED_DATA_DIR

FILES = [str(BUNDLED_DATA_DIR / "AAPL_data.csv"), str(BUNDLED_DATA_DIR / "ABT_data.csv")]


def test_train_json_reports_model_and_baselines_per_fold(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_HOME", str(tmp_path))
    code = main(["train", *FILES, "--json", "--folds", "2", "--test-days", "40", "--n-seeds", "2"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["symbols"] == ["AAPL", "ABT"]
    assert report["horizon_days"] == 5 and report["seeds"] == [42, 7]
    assert [f["fold"] for f in report["folds"]] == [1, 2]
    assert report["folds"][-1]["test"].split("..")[1] <= "2018-02-07"  # shipped files' year defect repaired
    assert report["quarantined"] == 0
    assert set(report["summary"]) == {"xgboost", "zero", "momentum", "ridge"}
    assert report["summary"]["zero"]["directional_accuracy"] is None  # a zero forecast names no direction
    assert 0 < report["summary"]["xgboost"]["rmse"] < 0.2
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()  # nothing registered unless asked


def test_train_on_an_unreadable_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "XYZ.csv"
    bad.write_text("<html><body>rate limited</body></html>")
    assert main(["train", str(bad)]) == 2
    assert "XYZ.csv" in capsys.readouterr().err


def test_train_with_tuning_reports_the_search_and_uses_its_winner(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_HOME", str(tmp_path))
    args = ["train", *FILES, "--json", "--folds", "2", "--test-days", "40", "--n-seeds", "1"]
    code = main([*args, "--tune", "120", "--tune-trials", "3"])
    assert code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert captured.err.count("tuning trial") == 3  # progress on stderr, one line per trial
    tuning = report["tuning"]
    assert tuning["tuning_trials"] == 3 and tuning["tuning_best_rmse"] <= tuning["tuning_default_rmse"]
    # The search ends before the first test window it will be judged on.
    assert tuning["tuning_validation"].split("..")[1] < report["folds"][0]["test"].split("..")[0]
    assert report["params"]["n_estimators"] >= 100


def test_train_compares_a_richer_feature_set_and_a_per_date_rank_label(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_HOME", str(tmp_path))
    four = [*FILES, str(BUNDLED_DATA_DIR / "ADBE_data.csv"), str(BUNDLED_DATA_DIR / "AMZN_data.csv")]
    args = ["train", *four, "--json", "--folds", "2", "--test-days", "40", "--n-seeds", "1"]
    assert main([*args, "--features", "alpha158", "--normalise-features", "rank", "--label", "rank"]) == 0
    report = json.loads(capsys.readouterr().out)
    chosen = (report["features"], report["feature_normalisation"], report["label"])
    assert chosen == ("alpha158", "rank", "rank")
    assert -1 <= report["summary"]["xgboost"]["rank_ic"] <= 1  # rank IC needs 3+ names a date
    assert "momentum" not in report["summary"]  # it reads ret_20d, which alpha158 does not have
    # a model on other features or labels cannot be served through the technical_v1 feature service
    assert main([*args, "--features", "alpha158", "--register"]) == 2
    assert "--register" in capsys.readouterr().err
