"""Walk-forward splits and the leakage guards: shuffled labels carry no skill, planted skill is found."""

import numpy as np
import pandas as pd
import pytest
from synthetic_markets import dataset, gapped_dataset, gbm_bars

from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import label_column, label_span
from quant_assets.core.walk_forward import (
    WalkForwardConfig,
    evaluate_walk_forward,
    final_fold,
    walk_forward_folds,
)


def dates_frame(n_dates: int, n_symbols: int = 2) -> pd.Series:
    return pd.Series(np.repeat(pd.bdate_range("2020-01-01", periods=n_dates), n_symbols))


def test_folds_are_consecutive_and_purged_before_each_test_window():
    dates = dates_frame(300)
    config = WalkForwardConfig(purge_days=6, embargo_days=2, n_folds=3, test_days=20, min_train_days=50)
    folds = walk_forward_folds(dates, config)
    unique = pd.bdate_range("2020-01-01", periods=300)
    assert [f.test_start for f in folds] == [unique[240], unique[260], unique[280]]
    assert folds[-1].test_end == unique[-1]
    for fold in folds:
        gap = unique.get_loc(fold.test_start) - unique.get_loc(fold.train_end) - 1
        assert gap == 8  # purge 6 + embargo 2 dates never used
        assert fold.train_start == unique[0]  # expanding
        assert not (fold.train & fold.test).any()
        assert dates[fold.train].max() < dates[fold.test].min()


def test_rolling_window_keeps_a_fixed_training_length():
    folds = walk_forward_folds(
        dates_frame(300),
        WalkForwardConfig(
            purge_days=6, scheme="rolling", train_days=100, n_folds=3, test_days=20, min_train_days=50
        ),
    )
    for fold in folds:
        assert fold.train.sum() == 100 * 2


def test_not_enough_history_is_a_clear_error():
    with pytest.raises(ValueError, match="not enough history for 4 folds"):
        walk_forward_folds(dates_frame(100), WalkForwardConfig(purge_days=6))
    with pytest.raises(ValueError, match="scheme"):
        WalkForwardConfig(purge_days=6, scheme="random")


CONFIG = WalkForwardConfig(purge_days=label_span(1), n_folds=3, test_days=60, min_train_days=200)
FAST = {"n_estimators": 80}


def test_shuffled_labels_give_no_skill():
    """Leakage guard (b): with labels shuffled within each date the model cannot rank names."""
    data = dataset(gbm_bars(12, 500, seed=11, autocorrelation=0.6), horizon=1)
    label = label_column(1)
    rng = np.random.default_rng(0)
    data[label] = data.groupby("date")[label].transform(lambda s: rng.permutation(s.to_numpy()))
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), label, CONFIG, horizon=1, seeds=[1], params=FAST
    )
    rank_ic = report.summary["xgboost"]["rank_ic"]
    n_dates = report.out_of_fold["date"].nunique()
    assert abs(rank_ic) < 3 / np.sqrt(n_dates)  # within noise of zero (3 standard errors)


def test_planted_predictability_is_recovered():
    """Leakage guard (c): autocorrelated returns are a real, learnable signal.

    With AR(1) coefficient 0.6 the label (entered at the next open) correlates with the last known
    return at about 0.6^2 = 0.36, so a model that sees only the past must find it.
    """
    data = dataset(gbm_bars(12, 500, seed=12, autocorrelation=0.6), horizon=1)
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), label_column(1), CONFIG, horizon=1, seeds=[1, 2], params=FAST
    )
    model, zero = report.summary["xgboost"], report.summary["zero"]
    assert model["rank_ic"] > 0.15
    assert model["rmse"] < zero["rmse"]
    assert model["directional_accuracy"] > 0.55
    assert set(report.summary) == {"xgboost", "zero", "momentum", "ridge"}
    assert report.out_of_fold["fold"].nunique() == 3


def test_a_halted_symbol_s_labels_never_train_a_fold_they_reach_into():
    """Leakage guard: the purge counts market dates, labels count a symbol's own bars; exit dates decide."""
    data, config = gapped_dataset()
    folds_without_exits = walk_forward_folds(data["date"], config)
    leaking = data[folds_without_exits[0].train]
    assert (leaking["exit_date"] >= folds_without_exits[0].test_start).any()  # the trap is real
    for fold in walk_forward_folds(data["date"], config, data["exit_date"]):
        assert (data.loc[fold.train, "exit_date"] < fold.test_start).all()
    challenger_rows, window = final_fold(data, config)  # what the challenger is trained on
    assert (challenger_rows["exit_date"] < window["date"].min()).all()
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), label_column(5), config, horizon=5, seeds=[1], params=FAST
    )
    assert report.folds[0]["n_train"] == int(
        (folds_without_exits[0].train & (data["exit_date"] < folds_without_exits[0].test_start)).sum()
    )
