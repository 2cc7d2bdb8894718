"""The shared policy: stale rows, TopkDropout on hand-checked cases, equal weights."""

import pandas as pd
import pytest

from quant_assets.core.policy import (
    PolicyConfig,
    default_topk,
    equal_weights,
    forecast_rows,
    topk_dropout_weights,
)

SCORES = pd.Series({"A": 0.5, "B": 0.1, "C": -0.2, "D": 0.3, "E": 0.0, "F": 0.4})


def test_topk_dropout_swaps_the_worst_held_name_for_the_best_new_one():
    # Held A, B, C; the best new candidate is F (0.4). Ranked together: A, F, B, C -> C (worst) goes.
    weights = topk_dropout_weights(SCORES, pd.Index(["A", "B", "C"]), k=3, n_drop=1)
    assert weights.to_dict() == pytest.approx({"A": 1 / 3, "B": 1 / 3, "F": 1 / 3})


def test_topk_dropout_without_drops_keeps_its_holdings():
    weights = topk_dropout_weights(SCORES, pd.Index(["A", "B", "C"]), k=3, n_drop=0)
    assert list(weights.index) == ["A", "B", "C"]


def test_topk_dropout_starts_from_the_top_k():
    assert list(topk_dropout_weights(SCORES, pd.Index([]), k=3, n_drop=1).index) == ["A", "D", "F"]


def test_topk_dropout_sells_a_held_name_without_a_forecast():
    # Z has no forecast today: it cannot be ranked, so it is not kept; the two free places go to F, D.
    weights = topk_dropout_weights(SCORES, pd.Index(["A", "Z"]), k=3, n_drop=1)
    assert list(weights.index) == ["A", "D", "F"]


def test_topk_dropout_refuses_a_nonsense_k():
    with pytest.raises(ValueError, match="k >= 1"):
        topk_dropout_weights(SCORES, pd.Index([]), k=0, n_drop=1)


def test_equal_weights_and_default_k_obey_the_cap():
    assert equal_weights(["B", "A", "B"]).to_dict() == {"A": 0.5, "B": 0.5}
    assert default_topk(0.10) == 10 and default_topk(0.3) == 4 and default_topk(1.0) == 1
    with pytest.raises(ValueError, match="max_weight"):
        PolicyConfig(max_weight=0)


def test_forecast_rows_take_each_symbols_newest_row_and_flag_stale_ones():
    features = pd.DataFrame(
        {
            "symbol": ["A", "A", "B", "C"],
            "date": pd.to_datetime(["2021-03-01", "2021-03-10", "2021-03-09", "2021-02-20"]),
            "x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    rows = forecast_rows(features, as_of=pd.Timestamp("2021-03-09"))
    assert rows.set_index("symbol")["x"].to_dict() == {"A": 1.0, "B": 3.0, "C": 4.0}  # nothing after as_of
    assert rows.set_index("symbol")["stale"].to_dict() == {"A": True, "B": False, "C": True}
    assert forecast_rows(features).set_index("symbol")["stale"].to_dict() == {
        "A": False,
        "B": False,
        "C": True,
    }
