import numpy as np
import pandas as pd
import pytest

from quant_assets.core.labels import forward_returns, label_column


def closes(symbol, values):
    dates = pd.bdate_range("2020-01-01", periods=len(values))
    return pd.DataFrame({"symbol": symbol, "date": dates, "close": values})


def test_forward_return_is_close_to_close_over_the_horizon():
    bars = closes("AAA", [100.0, 110.0, 99.0, 121.0])
    labels = forward_returns(bars, horizon=2)
    # t0: 99/100 - 1 ; t1: 121/110 - 1; the last two days have no known future.
    assert labels[label_column(2)].tolist() == pytest.approx([-0.01, 0.1])
    assert labels["date"].tolist() == bars["date"].iloc[:2].tolist()


def test_labels_never_cross_symbols_and_ignore_input_order():
    bars = pd.concat([closes("AAA", [1.0, 2.0, 4.0]), closes("BBB", [10.0, 5.0, 5.0])])
    labels = forward_returns(bars.sample(frac=1, random_state=3), horizon=1)
    by_symbol = labels.groupby("symbol")[label_column(1)].apply(list).to_dict()
    assert by_symbol == {"AAA": [1.0, 1.0], "BBB": [-0.5, 0.0]}


def test_label_at_t_uses_only_prices_from_t_onwards():
    """Changing any close before t must not change the label at t (labels look forward, never back)."""
    base = closes("AAA", list(np.linspace(10, 20, 30)))
    changed = base.copy()
    changed.loc[:9, "close"] *= 1.5
    a = forward_returns(base, 5).set_index("date")[label_column(5)]
    b = forward_returns(changed, 5).set_index("date")[label_column(5)]
    assert np.allclose(a.iloc[10:], b.iloc[10:])


def test_horizon_must_be_positive():
    with pytest.raises(ValueError, match="horizon"):
        forward_returns(closes("AAA", [1.0, 2.0]), 0)
