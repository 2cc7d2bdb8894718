import pandas as pd
import pytest

from quant_assets.core.portfolio import renormalise_within_cap


def test_renormalising_after_cleaning_never_breaks_the_cap():
    cleaned = pd.Series({"A": 0.5, "B": 0.25, "C": 0.13, "D": 0.10})  # 0.98 after tiny weights were cut
    fixed = renormalise_within_cap(cleaned, cap=0.5)
    assert fixed.sum() == pytest.approx(1.0)
    assert fixed["A"] == pytest.approx(0.5)
    assert (fixed <= 0.5 + 1e-12).all()
    # the freed 2 % goes to the uncapped names in proportion
    assert fixed["B"] / fixed["D"] == pytest.approx(2.5)


def test_young_symbol_is_not_treated_as_low_risk():
    """A name with 130 of 252 days must not look calmer than it is (no zero-filled returns)."""
    import numpy as np

    from quant_assets.core.portfolio import optimise_weights

    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2020-01-01", periods=252)
    returns = pd.DataFrame(
        {
            "OLD1": rng.normal(0, 0.010, 252),
            "OLD2": rng.normal(0, 0.010, 252),
            "YOUNG": rng.normal(0, 0.013, 252),
        },
        index=dates,
    )
    closes = 100 * (1 + returns).cumprod()
    closes.loc[dates[:122], "YOUNG"] = np.nan
    result = optimise_weights(
        pd.Series({"OLD1": -0.01, "OLD2": -0.01, "YOUNG": -0.01}), closes, horizon_days=5, max_weight=1.0
    )
    assert result.method == "min_volatility"
    assert result.weights["YOUNG"] < min(result.weights["OLD1"], result.weights["OLD2"])
