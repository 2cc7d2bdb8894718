"""Hyperparameter search: it never sees a walk-forward test window, starts from the defaults, repeats."""

import numpy as np
import pandas as pd
import pytest
from synthetic_markets import dataset, gapped_dataset, gbm_bars

from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column, label_span
from quant_assets.core.model import DEFAULT_XGB_PARAMS
from quant_assets.core.tuning import TUNED_PARAMS, TuningConfig, tune_hyperparameters, tuning_split
from quant_assets.core.walk_forward import WalkForwardConfig, walk_forward_folds

WF = WalkForwardConfig(purge_days=label_span(1), n_folds=2, test_days=60, min_train_days=150)
TUNE = TuningConfig(seconds=120, max_trials=3, validation_days=60, min_train_days=150, seed=5)
LABEL = label_column(1)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return dataset(gbm_bars(6, 600, seed=21, autocorrelation=0.5), horizon=1).reset_index(drop=True)


def test_the_search_window_ends_before_the_first_test_window_with_purge_and_embargo(data):
    train, validation = tuning_split(data["date"], WF, TUNE)
    dates = np.sort(data["date"].unique())
    position = {d: i for i, d in enumerate(dates)}
    first_test = position[np.datetime64(walk_forward_folds(data["date"], WF)[0].test_start)]
    gap = WF.purge_days + WF.embargo_days
    last_valid = position[data.loc[validation, "date"].max()]
    first_valid = position[data.loc[validation, "date"].min()]
    last_train = position[data.loc[train, "date"].max()]
    assert last_valid == first_test - gap - 1  # no validation label reaches the test window
    assert last_valid - first_valid + 1 == TUNE.validation_days
    assert last_train == first_valid - gap - 1  # nor a training label the validation window
    assert not (train & validation).any()


def test_tuning_never_looks_at_the_test_windows(data):
    """Scrambling every label and feature from the first test window on changes nothing in the search."""
    first_test = walk_forward_folds(data["date"], WF)[0].test_start
    scrambled = data.copy()
    later = scrambled["date"] >= first_test
    rng = np.random.default_rng(0)
    for column in [LABEL, *FEATURE_COLUMNS]:
        scrambled.loc[later, column] = rng.normal(size=int(later.sum()))
    features = list(FEATURE_COLUMNS)
    original = tune_hyperparameters(data, features, LABEL, WF, TUNE)
    again = tune_hyperparameters(scrambled, features, LABEL, WF, TUNE)
    assert [t["params"] for t in again.trials] == [t["params"] for t in original.trials]
    assert [t["rmse"] for t in again.trials] == [t["rmse"] for t in original.trials]


def test_defaults_are_trial_zero_and_the_winner_is_no_worse(data):
    seen = []
    result = tune_hyperparameters(data, list(FEATURE_COLUMNS), LABEL, WF, TUNE, on_trial=seen.append)
    assert seen == result.trials and len(seen) == TUNE.max_trials
    assert seen[0]["params"] == {name: DEFAULT_XGB_PARAMS[name] for name in TUNED_PARAMS}
    assert result.default_rmse == seen[0]["rmse"]
    assert result.best_rmse == min(t["rmse"] for t in seen) <= result.default_rmse
    assert set(result.best_params) == set(TUNED_PARAMS)
    summary = result.describe()
    assert summary["tuning_trials"] == 3 and summary["tuning_validation"].count("..") == 1


def test_too_little_history_to_tune_is_a_clear_error(data):
    with pytest.raises(ValueError, match="not enough history before the first test window"):
        tuning_split(data["date"], WF, TuningConfig(seconds=1, validation_days=350, min_train_days=150))


def test_a_halted_symbol_s_labels_stay_out_of_the_search_windows():
    data, wf = gapped_dataset()
    tune = TuningConfig(seconds=1, validation_days=60, min_train_days=150)
    train, validation = tuning_split(data["date"], wf, tune, data["exit_date"])
    first_test = walk_forward_folds(data["date"], wf)[0].test_start
    assert (data.loc[validation, "exit_date"] < first_test).all()
    assert (data.loc[train, "exit_date"] < data.loc[validation, "date"].min()).all()
    _, unguarded = tuning_split(data["date"], wf, tune)
    assert (data.loc[unguarded, "exit_date"] >= first_test).any()  # without exit dates it would leak
