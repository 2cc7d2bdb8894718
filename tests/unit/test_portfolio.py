"""Portfolio optimisation: checked against PyPortfolioOpt's published reference and an independent numpy/scipy
re-computation, then the long-only / cap / exclusion rules on the bundled S&P 500 data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from quant_assets.core.portfolio import annualise, optimise_weights, weights_table

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SP500 = ROOT / "data" / "sp500_2013_2018"
# Ten full 2013-2018 histories, plus APTV (44 days) for the short-history rule.
SYMBOLS = ("AAPL", "AMZN", "ABT", "ADBE", "AAL", "ABBV", "ACN", "ADI", "ADM", "AMGN")

# PyPortfolioOpt tests/test_efficient_frontier.py::test_min_volatility (robertmartin8/PyPortfolioOpt@65cabce)
# on tests/resources/stock_prices.csv, sample_cov, bounds (0, 1); see reference_values/expected_values.csv.
REFERENCE_MIN_VOL_VOLATILITY = 0.15915084514118694


@pytest.fixture(scope="module")
def reference_prices() -> pd.DataFrame:
    """PyPortfolioOpt's test prices (20 tickers, 1989-2018, NaN before listing), copied gzipped."""
    return pd.read_csv(FIXTURES / "pypfopt_stock_prices.csv.gz", parse_dates=["date"], index_col="date")


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    columns = ["date", "close", "Name"]
    frames = [pd.read_csv(SP500 / f"{s}_data.csv", usecols=columns) for s in (*SYMBOLS, "APTV")]
    bars = pd.concat(frames).assign(date=lambda f: pd.to_datetime(f["date"]))
    return bars.pivot(index="date", columns="Name", values="close").sort_index()


def scipy_min_volatility(cov: np.ndarray, cap: float) -> np.ndarray:
    """Long-only min-variance weights with a per-name cap, by SLSQP (independent of cvxpy)."""
    n = len(cov)
    budget = {"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(n)}
    result = minimize(
        lambda w: w @ cov @ w,
        np.full(n, 1 / n),
        jac=lambda w: 2 * cov @ w,
        method="SLSQP",
        bounds=[(0, cap)] * n,
        constraints=[budget],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert result.success, result.message
    return result.x


def numpy_ledoit_wolf(prices: np.ndarray) -> np.ndarray:
    """Ledoit & Wolf (2004), scaled-identity target, on daily simple returns; annualised x252."""
    x = np.diff(prices, axis=0) / prices[:-1]
    t, n = x.shape
    xc = x - x.mean(axis=0)
    sample = xc.T @ xc / t
    m = np.trace(sample) / n
    d2 = ((sample - m * np.eye(n)) ** 2).sum() / n
    b2 = sum(((np.outer(row, row) - sample) ** 2).sum() for row in xc) / t**2 / n
    shrink = min(b2, d2) / d2
    return 252 * (shrink * m * np.eye(n) + (1 - shrink) * sample)


def test_the_scipy_oracle_reproduces_pypfopt_reference_min_volatility(reference_prices):
    """Validates the oracle used below: on the full sample covariance it gives PyPortfolioOpt's number."""
    cov = (reference_prices.pct_change(fill_method=None).dropna(how="all").cov() * 252).to_numpy()
    weights = scipy_min_volatility(cov, cap=1.0)
    assert np.sqrt(weights @ cov @ weights) == pytest.approx(REFERENCE_MIN_VOL_VOLATILITY, rel=1e-7)


@pytest.mark.parametrize("cap", [1.0, 0.15, 0.1])
def test_min_volatility_matches_independent_ledoit_wolf_and_scipy(reference_prices, cap):
    """Our function uses Ledoit-Wolf on the last 252 rows, so PyPortfolioOpt's reference (sample covariance,
    whole history) cannot match exactly; the expected weights are recomputed here with numpy (Ledoit-Wolf)
    and scipy (SLSQP) on the same 252 rows of the same reference prices. All-negative forecasts force min
    volatility. Weights agree to the 5-decimal rounding of clean_weights; at 0.15 and 0.1 the cap binds."""
    forecasts = pd.Series(-0.01, index=reference_prices.columns)
    result = optimise_weights(forecasts, reference_prices, horizon_days=5, max_weight=cap, min_history=252)
    cov = numpy_ledoit_wolf(reference_prices.tail(252).to_numpy())
    expected = scipy_min_volatility(cov, cap)
    assert result.method == "min_volatility"
    assert result.excluded == {}
    ours = result.weights.reindex(reference_prices.columns, fill_value=0.0).to_numpy()
    np.testing.assert_allclose(ours, expected, atol=2e-5)
    assert result.annual_volatility == pytest.approx(np.sqrt(expected @ cov @ expected), rel=1e-6)
    if cap < 1:
        assert (np.isclose(result.weights, cap, atol=1e-6)).sum() >= 3


@pytest.mark.parametrize("cap", [0.15, 0.3, 1.0])
def test_weights_are_long_only_capped_and_sum_to_one_on_real_data(closes, cap):
    rng = np.random.default_rng(7)
    forecasts = pd.Series(rng.normal(0.004, 0.01, len(SYMBOLS)), index=list(SYMBOLS))
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=cap)
    w = result.weights
    assert result.method == "max_sharpe"
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert (w >= 0).all() and (w <= cap + 1e-6).all()
    assert set(w.index) <= set(SYMBOLS) and w.is_monotonic_decreasing
    # performance describes the weights returned, with annualised forecasts and risk-free rate 0
    mu = annualise(forecasts, 5)
    assert result.expected_annual_return == pytest.approx(float(mu[w.index] @ w), rel=1e-9)
    assert result.sharpe_ratio == pytest.approx(result.expected_annual_return / result.annual_volatility)
    assert 0.05 < result.annual_volatility < 0.6


def test_short_history_and_missing_predictions_are_excluded_with_reasons(closes):
    forecasts = pd.Series(0.01, index=[*SYMBOLS[:-1], "APTV", "ZZZZ"])  # AMGN: closes but no forecast
    forecasts["ADM"] = np.nan
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.3)
    assert result.excluded == {
        "APTV": "only 44 days of history (< 120)",
        "AMGN": "no prediction",
        "ADM": "no prediction",
        "ZZZZ": "no closes in the last 252 rows",
    }
    assert not set(result.excluded) & set(result.weights.index)
    assert result.weights.sum() == pytest.approx(1.0)


def test_infeasible_cap_says_how_many_symbols_and_the_smallest_cap(closes):
    forecasts = pd.Series(0.01, index=["AAPL", "AMZN", "ABT", "ADBE", "APTV"])
    with pytest.raises(ValueError, match=r"4 usable symbols.*at least 25\.00%"):
        optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.2)


def test_fewer_than_two_usable_symbols_lists_why_each_was_left_out(closes):
    forecasts = pd.Series({"AAPL": 0.01, "APTV": 0.02, "ABT": np.nan})
    with pytest.raises(ValueError, match="at least 2 usable") as error:
        optimise_weights(forecasts, closes[["AAPL", "APTV", "ABT"]], horizon_days=5, max_weight=1.0)
    assert "APTV: only 44 days of history (< 120)" in str(error.value)
    assert "ABT: no prediction" in str(error.value)


def test_all_negative_forecasts_choose_min_volatility_whatever_their_size(closes):
    mild = optimise_weights(pd.Series(-0.001, index=list(SYMBOLS)), closes, horizon_days=5, max_weight=0.4)
    rng = np.random.default_rng(3)
    varied = pd.Series(-rng.uniform(0.001, 0.05, len(SYMBOLS)), index=list(SYMBOLS))
    other = optimise_weights(varied, closes, horizon_days=5, max_weight=0.4)
    assert mild.method == other.method == "min_volatility"
    pd.testing.assert_series_equal(mild.weights.sort_index(), other.weights.sort_index(), atol=1e-4)


def test_a_positive_forecast_that_cannot_pay_under_the_cap_falls_back_to_min_volatility(closes):
    """One name at +0.1 % and the rest at -5 %: at a 20 % cap every portfolio loses money, so max Sharpe
    (risk-free 0) is infeasible and PyPortfolioOpt would raise; min volatility is used instead."""
    forecasts = pd.Series(-0.05, index=list(SYMBOLS))
    forecasts["AAPL"] = 0.001
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.2)
    assert result.method == "min_volatility"
    assert (result.weights <= 0.2 + 1e-6).all() and result.weights.sum() == pytest.approx(1.0)


def test_a_much_better_forecast_gets_the_cap(closes):
    forecasts = pd.Series(0.001, index=list(SYMBOLS))
    forecasts["ADBE"] = 0.05
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.25)
    assert result.method == "max_sharpe"
    assert result.weights.index[0] == "ADBE"
    assert result.weights["ADBE"] == pytest.approx(0.25, abs=1e-6)


def test_annualise_compounds_over_trading_days():
    assert annualise(pd.Series([0.01]), 5).iloc[0] == pytest.approx(1.01**50.4 - 1)
    assert annualise(pd.Series([-0.02]), 21).iloc[0] == pytest.approx(0.98**12 - 1)


def test_weights_table_renders_the_largest_names_in_order(closes):
    forecasts = pd.Series(0.002, index=list(SYMBOLS))
    forecasts["ADBE"] = 0.05
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.25)
    table = weights_table(result, top=3)
    lines = table.splitlines()
    assert lines[:2] == ["| symbol | weight |", "| --- | ---: |"]
    assert lines[2] == "| ADBE | 25.00% |"
    assert [line.split("|")[1].strip() for line in lines[2:5]] == list(result.weights.index[:3])
    if len(result.weights) > 3:
        assert lines[5].startswith(f"| ({len(result.weights) - 3} more) |")
    assert len(weights_table(result).splitlines()) == 2 + min(10, len(result.weights))


def test_max_sharpe_that_stalls_the_default_solver_still_gets_weights():
    """Real inputs from a replay (bundled closes up to 2016-09-02, the model's forecasts that day): OSQP
    stops at its iteration limit on them; the live policy must still answer, not fail the asset."""
    from quant_assets.core.validation import split_valid_bars
    from quant_assets.settings import BUNDLED_DATA_DIR
    from quant_assets.sources.bundled import load_bundled_bars

    symbols = ("AAPL", "ABT", "ADBE", "AMZN")
    valid, _ = split_valid_bars(load_bundled_bars(BUNDLED_DATA_DIR, symbols))
    closes = valid.pivot(index="date", columns="symbol", values="close").loc[:"2016-09-02"]
    forecasts = pd.Series({
        "AAPL": -0.00627761660143733, "ABT": 0.00017517380183562636,
        "ADBE": -0.028792748227715492, "AMZN": 2.0563624275382608e-05,
    })  # fmt: skip
    result = optimise_weights(forecasts, closes, horizon_days=5, max_weight=0.5)
    assert result.method == "max_sharpe"
    assert result.weights.to_dict() == pytest.approx({"ABT": 0.5, "AMZN": 0.5}, abs=1e-3)
