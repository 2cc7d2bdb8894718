"""An extreme newest print is unconfirmed until the next bar: the rule the trading cycle freezes on."""

import numpy as np
import pandas as pd

from quant_assets.core.outliers import spike_reasons, unconfirmed_moves


def _bars(closes: dict[str, list[float]]) -> pd.DataFrame:
    frames = []
    for symbol, values in closes.items():
        dates = pd.bdate_range("2018-01-01", periods=len(values))
        frames.append(pd.DataFrame({"symbol": symbol, "date": dates, "close": values}))
    return pd.concat(frames, ignore_index=True)


def _walk(n: int, seed: int, start: float = 160.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(start * np.exp(np.cumsum(rng.normal(0, 0.01, n))))


def test_the_operators_case_a_dollar_fifty_print_after_160_is_unconfirmed():
    history = _walk(80, 1)
    bars = _bars({"AAPL": [*history, 1.50], "MSFT": [*_walk(80, 2), _walk(80, 2)[-1] * 1.03]})
    moves = unconfirmed_moves(bars)
    assert list(moves["symbol"]) == ["AAPL"]
    row = moves.iloc[0]
    assert row["close"] == 1.50 and row["previous_close"] == history[-1]
    assert row["move"] < -0.98 and "unconfirmed until the next bar" in row["reason"]


def test_the_next_bar_settles_it_either_way():
    history = _walk(80, 3)
    reverted = _bars({"AAPL": [*history, 1.50, history[-1]]})  # a bad print: the spike rule removes it
    assert unconfirmed_moves(reverted).empty
    assert spike_reasons(reverted).notna().sum() == 1
    persisted = _bars({"AAPL": [*history, history[-1] * 0.6, history[-1] * 0.61]})  # a real fall: confirmed
    assert unconfirmed_moves(persisted).empty
    assert spike_reasons(persisted).isna().all()


def test_a_volatile_name_needs_a_bigger_move_and_a_short_history_is_not_judged():
    rng = np.random.default_rng(4)
    wild = list(50 * np.exp(np.cumsum(rng.normal(0, 0.06, 80))))  # 6 % daily sd: 8 sd is about 48 %
    bars = _bars({"WILD": [*wild, wild[-1] * 1.30], "NEW": [10.0] * 10 + [20.0]})
    assert unconfirmed_moves(bars).empty
    calm = _bars({"CALM": [*_walk(80, 5), _walk(80, 5)[-1] * 1.30]})
    assert list(unconfirmed_moves(calm)["symbol"]) == ["CALM"]
