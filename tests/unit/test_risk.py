"""Risk of today's weights: each figure by hand or against QuantStats, and the stress windows found."""

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from quant_assets.core.risk import portfolio_risk, simulated_returns


def market(n_days: int = 300, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    returns = rng.normal(0.0005, 0.01, (n_days, 3))
    returns[150:155, :] = -0.05  # a planted crash: five days of -5 % in every name
    return pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates, columns=["A", "B", "C"])


WEIGHTS = pd.Series({"A": 0.5, "B": 0.3, "C": 0.0})


def test_todays_weights_on_past_returns_by_hand():
    closes = market()
    daily = simulated_returns(WEIGHTS, closes)
    by_hand = 0.5 * closes["A"].pct_change() + 0.3 * closes["B"].pct_change()
    assert np.allclose(daily, by_hand.iloc[1:])  # 20 % cash earns nothing


def test_var_cvar_exposure_and_concentration():
    closes = market()
    risk = portfolio_risk(WEIGHTS, closes, horizon_days=5)
    daily = simulated_returns(WEIGHTS, closes)
    table = {(r["method"], r["confidence"], r["days"]): r for r in risk["var"]}
    assert set(table) == {
        (m, c, d) for m in ("historical", "parametric") for c in (0.95, 0.99) for d in (1, 5)
    }
    assert table["historical", 0.95, 1]["var"] == pytest.approx(-daily.quantile(0.05))
    assert table["historical", 0.99, 1]["cvar"] >= table["historical", 0.99, 1]["var"]
    assert table["parametric", 0.95, 1]["var"] == pytest.approx(
        -qs.stats.value_at_risk(daily, confidence=0.95)
    )
    assert table["parametric", 0.99, 1]["cvar"] == pytest.approx(
        -qs.stats.cvar(daily, confidence=0.99, method="parametric")
    )
    assert table["parametric", 0.95, 5]["var"] > table["parametric", 0.95, 1]["var"]
    assert risk["gross_exposure"] == pytest.approx(0.8) and risk["net_exposure"] == pytest.approx(0.8)
    assert risk["largest_weight"] == 0.5 and risk["largest_name"] == "A"
    assert risk["effective_names"] == pytest.approx(1 / (0.25 + 0.09))
    assert risk["volatility"] == pytest.approx(daily.std() * np.sqrt(252))


def test_stress_finds_the_planted_crash_and_beta_to_itself_is_one():
    closes = market()
    risk = portfolio_risk(WEIGHTS, closes, horizon_days=5, spy_closes=closes["A"])
    five_day = next(r for r in risk["stress"] if r["days"] == 5)
    assert five_day["start"] == str(closes.index[150].date()) and five_day["end"] == str(
        closes.index[154].date()
    )
    assert five_day["return"] == pytest.approx((1 - 0.8 * 0.05) ** 5 - 1)
    only_a = portfolio_risk(pd.Series({"A": 1.0}), closes, horizon_days=5, spy_closes=closes["A"])
    assert only_a["beta_spy"] == pytest.approx(1.0)


def test_clear_errors():
    with pytest.raises(ValueError, match="no closes for weighted symbols"):
        portfolio_risk(pd.Series({"ZZZ": 1.0}), market(), horizon_days=5)
    with pytest.raises(ValueError, match="need 30"):
        portfolio_risk(WEIGHTS, market(20), horizon_days=5)
