"""Risk limits as data (the YAML file) and the judgement of targets against them."""

import numpy as np
import pandas as pd
import pytest

from quant_assets.core.limit_checks import breaches, evaluate_limits
from quant_assets.core.limits import RiskLimits, RiskLimitsError, load_risk_limits
from quant_assets.settings import DEFAULT_RISK_LIMITS_FILE


def test_the_shipped_file_is_the_documented_defaults():
    assert load_risk_limits(DEFAULT_RISK_LIMITS_FILE) == RiskLimits()


def test_a_file_lists_only_what_it_changes(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("min_names: 8\nstop_loss: {cooldown_days: 3}\nnever_trade: [gme, ' amc ']\n")
    limits = load_risk_limits(path)
    assert limits.min_names == 8 and limits.max_weight == RiskLimits().max_weight
    assert limits.stop_loss.cooldown_days == 3 and limits.stop_loss.from_entry == 0.15
    assert limits.never_trade == frozenset({"GME", "AMC"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_wieght: 0.1\n", "unknown key(s) max_wieght"),
        ("max_weight: 1.5\n", "max_weight must be in (0, 1], got 1.5"),
        ("min_names: 2.5\n", "min_names must be a whole number >= 1"),
        ("drawdown_stop: {max_drawdown: -0.1}\n", "drawdown_stop.max_drawdown must be in (0, 1]"),
        ("stop_loss: {cooldown: 3}\n", "unknown key(s) stop_loss.cooldown"),
        ("never_trade: GME\n", "never_trade must be a list of symbols"),
        ("max_var_95_1d: '4%'\n", "max_var_95_1d must be a number"),
        ("- just a list\n", "expected a mapping"),
        ("max_weight: [\n", "not valid YAML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    with pytest.raises(RiskLimitsError) as error:
        load_risk_limits(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_missing_file_says_which_variable_names_it(tmp_path):
    with pytest.raises(RiskLimitsError, match="QUANT_RISK_LIMITS"):
        load_risk_limits(tmp_path / "nowhere.yaml")


def _closes(n_days: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0003, [0.01, 0.02, 0.015, 0.03, 0.012], size=(n_days, 5))
    dates = pd.bdate_range("2017-01-02", periods=n_days)
    return pd.DataFrame(100 * np.exp(np.cumsum(returns, axis=0)), index=dates, columns=list("ABCDE"))


def test_each_limit_measures_what_it_says():
    closes = _closes()
    targets = pd.Series({"A": 0.3, "B": 0.3, "C": 0.2, "D": 0.2})
    current = pd.Series({"A": 0.5, "E": 0.4})
    limits = RiskLimits(max_weight=0.25, min_names=5, max_var_95_1d=0.01, max_turnover=0.5,
                        never_trade=frozenset({"D"}))  # fmt: skip
    results = evaluate_limits(targets, limits, current_weights=current, closes=closes)
    assert {r.limit for r in breaches(results)} == set(results)  # every one breached, on purpose
    assert results["max_weight"].value == 0.3 and "A 30.00%, B 30.00%" in results["max_weight"].reason
    assert results["min_names"].value == 4
    # turnover: |0.3-0.5| + 0.3 + 0.2 + 0.2 + |0-0.4| = 1.3, halved
    assert results["max_turnover"].value == pytest.approx(0.65)
    daily = closes.pct_change().iloc[1:].tail(504)[targets.index] @ targets
    assert results["max_var_95_1d"].value == pytest.approx(-np.quantile(daily, 0.05))
    assert "D 20.00%" in results["never_trade"].reason


def test_within_the_limits_nothing_breaches_and_unknowable_figures_say_so():
    targets = pd.Series({s: 0.2 for s in "ABCDE"})
    results = evaluate_limits(targets, RiskLimits(max_weight=0.2, max_var_95_1d=0.5))
    assert breaches(results) == []
    assert results["max_turnover"].reason == "not measured: the current book is unknown"
    assert results["max_var_95_1d"].reason == "not measured: no price history available"
    short = evaluate_limits(targets, RiskLimits(max_weight=0.2), closes=_closes(30))
    assert not short["max_var_95_1d"].passed and "not trading blind" in short["max_var_95_1d"].reason


def test_the_drawdown_stop_exempts_an_all_cash_book_from_min_names():
    results = evaluate_limits(pd.Series(dtype=float), RiskLimits(), current_weights=pd.Series({"A": 0.1}),
                              stopped=True)  # fmt: skip
    assert results["min_names"].passed and "drawdown stop active" in results["min_names"].reason
