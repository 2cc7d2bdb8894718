import numpy as np
import pandas as pd
import pytest

from quant_assets.core.confidence import (
    cross_fitted_calibration_report,
    direction_confidence,
    fit_direction_calibration,
)
from quant_assets.core.drift import assess_error_drift
from quant_assets.core.gate import decide_promotion
from quant_assets.core.metrics import diebold_mariano, regression_metrics
from quant_assets.core.model import model_fingerprint, predict_returns, train_regressor


def test_metrics_by_hand():
    realised = np.array([0.01, -0.02, 0.03, -0.01])
    predicted = np.array([0.02, -0.01, -0.01, -0.02])
    m = regression_metrics(realised, predicted)
    assert m["rmse"] == pytest.approx(np.sqrt((0.0001 + 0.0001 + 0.0016 + 0.0001) / 4))
    assert m["mae"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.01) / 4)
    # implied price error: |p - r| / (1 + r)
    assert m["mape"] == pytest.approx(np.mean([0.01 / 1.01, 0.01 / 0.98, 0.04 / 1.03, 0.01 / 0.99]))
    assert m["directional_accuracy"] == pytest.approx(0.75)
    assert m["ic"] == pytest.approx(np.corrcoef(predicted, realised)[0, 1])


def test_rank_ic_and_icir_are_per_date():
    dates = np.repeat([1, 2], 3)
    realised = np.array([0.01, 0.02, 0.03, 0.03, 0.02, 0.01])
    predicted = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 4.0])  # date 1 perfectly ranked, date 2 reversed
    m = regression_metrics(realised, predicted, dates)
    assert m["rank_ic"] == pytest.approx(0.0)
    assert np.isfinite(m["icir"])


def test_constant_prediction_has_no_ic():
    m = regression_metrics(np.array([0.01, -0.02, 0.03]), np.zeros(3), np.array([1, 1, 1]))
    assert np.isnan(m["ic"]) and np.isnan(m["rank_ic"])


def test_xgboost_learns_a_planted_signal_and_is_bit_reproducible():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = pd.Series(0.02 * x["a"] + rng.normal(scale=0.01, size=3000))
    first = train_regressor(x[:2000], y[:2000], seed=7)
    second = train_regressor(x[:2000], y[:2000], seed=7)
    assert model_fingerprint(first) == model_fingerprint(second)
    assert model_fingerprint(first) != model_fingerprint(train_regressor(x[:2000], y[:2000], seed=8))
    p1 = predict_returns(first, x[2000:])
    assert regression_metrics(y[2000:].to_numpy(), p1)["ic"] > 0.8


def test_confidence_is_the_monotone_hit_rate_of_the_size_bin():
    predicted = np.array([0.001, -0.001, 0.002, 0.02, -0.03, 0.04])
    realised = np.array([-0.01, 0.01, 0.01, 0.01, -0.02, 0.05])
    cal = fit_direction_calibration(predicted, realised, n_bins=2)
    # small |p| bin: 1 hit of 3 -> (1+1)/(3+2); large bin: 3 of 3 -> (3+1)/(3+2)
    assert cal.hit_rates == pytest.approx((0.4, 0.8))
    assert direction_confidence(np.array([0.0005, -0.05]), cal) == pytest.approx([0.4, 0.8])


def test_confidence_never_falls_as_forecasts_grow():
    """Pool-adjacent-violators: a noisy dip in a larger bin is averaged with its neighbour."""
    predicted = np.array([0.001] * 10 + [0.002] * 10 + [0.003] * 10)
    hits_per_bin = [6, 3, 9]  # out of 10: middle bin dips
    realised = np.concatenate([np.where(np.arange(10) < h, 1.0, -1.0) for h in hits_per_bin])
    cal = fit_direction_calibration(predicted, realised, n_bins=3)
    assert list(cal.hit_rates) == sorted(cal.hit_rates)
    assert cal.hit_rates[0] == pytest.approx(cal.hit_rates[1])  # pooled: (7/12 + 4/12) / 2
    assert cal.hit_rates[0] == pytest.approx((7 / 12 + 4 / 12) / 2)


def test_cross_fitted_brier_of_an_uninformative_forecast_is_no_better_than_the_base_rate():
    rng = np.random.default_rng(3)
    oof = pd.DataFrame(
        {
            "fold": np.repeat([1, 2, 3, 4], 500),
            "predicted": rng.normal(size=2000),
            "realised": rng.normal(size=2000),
        }
    )
    report = cross_fitted_calibration_report(oof)
    assert report["brier"] >= report["brier_reference"] - 0.005
    assert sum(row["count"] for row in report["reliability"]) == 2000


def test_drift_rule_is_ten_percent_over_validation_rmse():
    realised = np.zeros(50)
    healthy = assess_error_drift(realised, np.full(50, 0.0105), reference_rmse=0.01)
    degraded = assess_error_drift(realised, np.full(50, 0.0115), reference_rmse=0.01)
    too_few = assess_error_drift(realised[:5], np.full(5, 0.05), reference_rmse=0.01)
    assert not healthy.degraded and degraded.degraded and not too_few.degraded
    assert degraded.ratio == pytest.approx(1.15)


def test_diebold_mariano_detects_a_clearly_better_forecast():
    rng = np.random.default_rng(1)
    realised = rng.normal(scale=0.02, size=400)
    good = realised + rng.normal(scale=0.005, size=400)
    bad = realised + rng.normal(scale=0.02, size=400)
    statistic, p_value = diebold_mariano(realised, good, bad, horizon=5)
    assert statistic < 0 and p_value < 0.01
    assert diebold_mariano(realised, bad, good, horizon=5)[1] > 0.99
    assert diebold_mariano(realised, good, good, horizon=5) == (0.0, 0.5)


def test_gate_promotes_only_a_better_challenger():
    rng = np.random.default_rng(2)
    realised = rng.normal(scale=0.02, size=300)
    dates = np.repeat(np.arange(100), 3)
    better = realised * 0.5 + rng.normal(scale=0.01, size=300)
    worse = -realised * 0.5 + rng.normal(scale=0.03, size=300)
    assert decide_promotion(realised, better, worse, dates, horizon=5).promote
    rejected = decide_promotion(realised, worse, better, dates, horizon=5)
    assert not rejected.promote and "RMSE" in rejected.reason
    same = decide_promotion(realised, better, better, dates, horizon=5)
    assert not same.promote  # an equal challenger never replaces the champion


def test_gate_can_demand_a_significant_improvement():
    """0.5 % lower RMSE from reshuffled errors: better on paper, indistinguishable from luck."""
    rng = np.random.default_rng(4)
    realised = rng.choice([-1, 1], size=300) * rng.uniform(0.03, 0.06, size=300)  # directions always clear
    champion_errors = rng.normal(scale=0.001, size=300)
    challenger_errors = rng.permutation(champion_errors) * 0.995
    dates = np.repeat(np.arange(100), 3)
    args = (realised, realised + challenger_errors, realised + champion_errors, dates)
    assert decide_promotion(*args, horizon=5).promote
    strict = decide_promotion(*args, horizon=5, dm_alpha=0.05)
    assert not strict.promote and "not significant" in strict.reason and strict.dm_p_value > 0.05
