"""Tuning inside `model_candidate`: every trial is a nested MLflow run under the training run."""

import mlflow
from dagster import build_asset_context
from synthetic_markets import dataset, gbm_bars

from quant_assets.assets.training import TrainingConfig, _tune
from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column, label_span
from quant_assets.core.walk_forward import WalkForwardConfig


def test_each_trial_is_a_nested_mlflow_run_of_the_training_run(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    data = dataset(gbm_bars(4, 700, seed=3, autocorrelation=0.4), horizon=1)
    wf = WalkForwardConfig(purge_days=label_span(1), n_folds=2, test_days=60, min_train_days=150)
    config = TrainingConfig(tune_seconds=60, tune_trials=2, tune_validation_days=60)
    try:
        experiment = mlflow.create_experiment("tuning-test")  # not the process's current experiment
        with mlflow.start_run(experiment_id=experiment, run_name="training") as parent:
            result = _tune(
                build_asset_context(), config, data, list(FEATURE_COLUMNS), label_column(1), wf, seed=1
            )
        children = mlflow.search_runs(
            experiment_ids=[experiment],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
            output_format="list",
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert len(children) == len(result.trials) == 2
    by_name = {run.info.run_name: run for run in children}
    assert set(by_name) == {"tuning-trial-000", "tuning-trial-001"}
    first = by_name["tuning-trial-000"].data
    assert first.metrics["validation_rmse"] == result.trials[0]["rmse"]
    assert int(first.params["max_depth"]) == result.trials[0]["params"]["max_depth"]
