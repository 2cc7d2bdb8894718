import numpy as np
import pandas as pd
import pytest

from quant_assets.core.confidence import direction_confidence, fit_direction_calibration
from quant_assets.core.drift import assess_error_drift
from quant_assets.core.model import holdout_split, predict_returns, regression_metrics, train_regressor


def test_holdout_purges_the_horizon_before_validation():
    dates = pd.Series(pd.bdate_range("2020-01-01", periods=20).repeat(2))
    split = holdout_split(dates, valid_fraction=0.25, purge_days=3)
    unique = pd.bdate_range("2020-01-01", periods=20)
    assert split.valid_start == unique[15]
    assert split.train_end == unique[11]  # dates 12, 13, 14 purged
    assert split.train.sum() == 24 and split.valid.sum() == 10
    assert not (split.train & split.valid).any()


def test_holdout_refuses_too_short_history():
    with pytest.raises(ValueError, match="not enough history"):
        holdout_split(pd.Series(pd.bdate_range("2020-01-01", periods=4)), valid_fraction=0.5, purge_days=5)


def test_metrics_by_hand():
    realised = np.array([0.01, -0.02, 0.03, -0.01])
    predicted = np.array([0.02, -0.01, -0.01, -0.02])
    m = regression_metrics(realised, predicted)
    assert m["rmse"] == pytest.approx(np.sqrt((0.0001 + 0.0001 + 0.0016 + 0.0001) / 4))
    assert m["mae"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.01) / 4)
    assert m["directional_accuracy"] == pytest.approx(0.75)
    assert m["ic"] == pytest.approx(np.corrcoef(predicted, realised)[0, 1])


def test_constant_prediction_has_no_ic():
    m = regression_metrics(np.array([0.01, -0.02, 0.03]), np.zeros(3), np.array([1, 1, 1]))
    assert np.isnan(m["ic"]) and np.isnan(m["rank_ic"])


def test_xgboost_learns_a_planted_signal_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = pd.Series(0.02 * x["a"] + rng.normal(scale=0.01, size=3000))
    first = train_regressor(x[:2000], y[:2000], seed=7)
    second = train_regressor(x[:2000], y[:2000], seed=7)
    p1, p2 = predict_returns(first, x[2000:]), predict_returns(second, x[2000:])
    assert np.array_equal(p1, p2)
    assert regression_metrics(y[2000:].to_numpy(), p1)["ic"] > 0.8


def test_confidence_is_the_hit_rate_of_the_size_bin():
    predicted = np.array([0.001, -0.001, 0.002, 0.02, -0.03, 0.04])
    realised = np.array([-0.01, 0.01, 0.01, 0.01, -0.02, 0.05])
    cal = fit_direction_calibration(predicted, realised, n_bins=2)
    # small |p| bin: 1 hit of 3 -> (1+1)/(3+2); large bin: 3 of 3 -> (3+1)/(3+2)
    assert cal.hit_rates == pytest.approx((0.4, 0.8))
    assert direction_confidence(np.array([0.0005, -0.05]), cal) == pytest.approx([0.4, 0.8])


def test_drift_rule_is_ten_percent_over_validation_rmse():
    realised = np.zeros(50)
    healthy = assess_error_drift(realised, np.full(50, 0.0105), reference_rmse=0.01)
    degraded = assess_error_drift(realised, np.full(50, 0.0115), reference_rmse=0.01)
    too_few = assess_error_drift(realised[:5], np.full(5, 0.05), reference_rmse=0.01)
    assert not healthy.degraded and degraded.degraded and not too_few.degraded
    assert degraded.ratio == pytest.approx(1.15)
