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
