import numpy as np
import pandas as pd
import pytest

from quant_assets.core.labels import forward_returns, label_column, label_span


def bars(symbol, opens, closes=None):
    dates = pd.bdate_range("2020-01-01", periods=len(opens))
    closes = opens if closes is None else closes
    return pd.DataFrame({"symbol": symbol, "date": dates, "open": opens, "close": closes})


def test_label_is_next_open_to_open_over_the_horizon():
    frame = bars("AAA", [100.0, 110.0, 99.0, 121.0, 90.0])
    labels = forward_returns(frame, horizon=2)
    # t0: enter at open[1]=110, exit at open[3]=121 -> 0.1; t1: 99 -> 90 -> -0.0909...
    assert labels[label_column(2)].tolist() == pytest.approx([0.1, 90 / 99 - 1])
    assert labels["date"].tolist() == frame["date"].iloc[:2].tolist()
    assert label_span(2) == 3


def test_the_close_of_the_decision_day_is_never_the_entry():
    """A decision at the close of t cannot trade at that close: changing close[t] leaves label[t] alone."""
    frame = bars("AAA", [10.0, 11.0, 12.0, 13.0], closes=[10.0, 11.0, 12.0, 13.0])
    moved = frame.assign(close=[50.0, 11.0, 12.0, 13.0])
    assert (
        forward_returns(frame, 1)[label_column(1)].tolist()
        == forward_returns(moved, 1)[label_column(1)].tolist()
    )


def test_labels_never_cross_symbols_and_ignore_input_order():
    frame = pd.concat([bars("AAA", [1.0, 2.0, 4.0, 8.0]), bars("BBB", [10.0, 5.0, 5.0, 10.0])])
    labels = forward_returns(frame.sample(frac=1, random_state=3), horizon=1)
    by_symbol = labels.groupby("symbol")[label_column(1)].apply(list).to_dict()
    assert by_symbol == {"AAA": [1.0, 1.0], "BBB": [0.0, 1.0]}


def test_label_at_t_uses_only_prices_after_t():
    """Changing any price up to and including t must not change the label at t."""
    base = bars("AAA", list(np.linspace(10, 20, 30)))
    changed = base.copy()
    changed.loc[:10, ["open", "close"]] *= 1.5
    a = forward_returns(base, 5).set_index("date")[label_column(5)]
    b = forward_returns(changed, 5).set_index("date")[label_column(5)]
    assert np.allclose(a.iloc[10:], b.iloc[10:])
    assert not np.allclose(a.iloc[:10], b.iloc[:10])


def test_horizon_must_be_positive():
    with pytest.raises(ValueError, match="horizon"):
        forward_returns(bars("AAA", [1.0, 2.0]), 0)
