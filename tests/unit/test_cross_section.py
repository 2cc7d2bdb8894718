"""Per-date normalisation (CSRankNorm / z-score), its point-in-time exit dates, and pluggable feature sets."""

import numpy as np
import pandas as pd
import pytest
from synthetic_markets import gbm_bars, mean_reverting_bars

from quant_assets.core.cross_section import RANK_SCALE, destandardise, normalise_labels, normalise_per_date
from quant_assets.core.dataset import model_inputs
from quant_assets.core.feature_sets import FEATURE_SETS, build_feature_set, feature_set, register_feature_set
from quant_assets.core.labels import EXIT_DATE
from quant_assets.core.walk_forward import WalkForwardConfig, walk_forward_folds

D1, D2 = pd.Timestamp("2021-01-04"), pd.Timestamp("2021-01-05")


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": ["A", "B", "C", "D", "A", "B"],
            "date": [D1, D1, D1, D1, D2, D2],
            "x": [1.0, 3.0, 2.0, np.nan, 5.0, 5.0],
        }
    )


def test_rank_normalisation_by_hand():
    out = normalise_per_date(frame(), ["x"], "rank")
    # D1: ranks 1/3, 3/3, 2/3 of three values (D's NaN stays out): (pct - 0.5) * 3.46
    assert out["x"].iloc[:3].tolist() == pytest.approx(
        [(1 / 3 - 0.5) * RANK_SCALE, 0.5 * RANK_SCALE, (2 / 3 - 0.5) * RANK_SCALE]
    )
    assert np.isnan(out["x"].iloc[3])
    # a tie shares the average rank of its places, as pandas and Qlib rank: 1.5 of 2 -> pct 0.75
    assert out["x"].iloc[4:].tolist() == pytest.approx([0.25 * RANK_SCALE] * 2)


def test_zscore_normalisation_by_hand_and_a_constant_date_is_zero():
    out = normalise_per_date(frame(), ["x"], "zscore")
    values = np.array([1.0, 3.0, 2.0])
    assert out["x"].iloc[:3].tolist() == pytest.approx(((values - 2) / values.std()).tolist())
    assert out["x"].iloc[4:].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="one of"):
        normalise_per_date(frame(), ["x"], "minmax")


def test_a_normalised_label_is_known_only_when_its_whole_date_is():
    rows = frame().assign(forward_return_5d=[0.01, 0.02, -0.01, 0.03, 0.0, 0.01])
    rows[EXIT_DATE] = (
        [D2 + pd.Timedelta(days=7)] * 3 + [D2 + pd.Timedelta(days=30)] + [D2 + pd.Timedelta(days=8)] * 2
    )
    out = normalise_labels(rows, "forward_return_5d", "rank")
    # D's label exits a month later (a halt) and moves every D1 label: all of D1 is known only then.
    assert (out.loc[out["date"] == D1, EXIT_DATE] == D2 + pd.Timedelta(days=30)).all()
    assert (out.loc[out["date"] == D2, EXIT_DATE] == D2 + pd.Timedelta(days=8)).all()
    config = WalkForwardConfig(purge_days=0, embargo_days=0, n_folds=1, test_days=1, min_train_days=1)
    folds = walk_forward_folds(out["date"], config, out[EXIT_DATE])
    assert not folds[0].train.any()  # no D1 row may train for a test window opening on D2


def test_destandardise_uses_the_known_labels_dispersion():
    known = pd.DataFrame({"date": [D1, D1, D2, D2], "r": [0.01, 0.03, -0.02, 0.02]})
    scores = pd.Series({"A": 1.0, "B": -0.5})
    mean = (0.02 + 0.0) / 2
    dispersion = (0.01 + 0.02) / 2  # population std of each date, averaged
    assert destandardise(scores, known, "r").to_dict() == pytest.approx(
        {"A": mean + dispersion, "B": mean - 0.5 * dispersion}
    )


def test_feature_sets_are_pluggable_and_checked():
    bars = gbm_bars(2, 80, seed=3)
    assert set(FEATURE_SETS) >= {"technical_v1", "alpha158"}
    with pytest.raises(ValueError, match="known: alpha158, technical_v1"):
        feature_set("nope")

    def gap(b: pd.DataFrame) -> pd.DataFrame:
        ordered = b.sort_values(["symbol", "date"]).reset_index(drop=True)
        gap = ordered["open"] / ordered.groupby("symbol")["close"].shift(1) - 1
        return ordered[["symbol", "date"]].assign(overnight_gap=gap)

    try:
        register_feature_set("overnight", gap, ["overnight_gap"])
        inputs = model_inputs(bars, 5, "overnight", "zscore")
        assert inputs.feature_names == ["overnight_gap"]
        assert inputs.training_rows.groupby("date")["overnight_gap"].mean().abs().max() < 1e-12
        register_feature_set("broken", gap, ["something_else"])
        with pytest.raises(ValueError, match="returned columns"):
            build_feature_set("broken", bars)
    finally:
        FEATURE_SETS.pop("overnight", None)
        FEATURE_SETS.pop("broken", None)
    with pytest.raises(ValueError, match="unique"):
        register_feature_set("dup", gap, ["a", "a"])


@pytest.mark.parametrize("name", ["technical_v1", "alpha158"])
def test_every_shipped_feature_set_is_causal(name):
    bars = mean_reverting_bars(3, 150, seed=5)
    full = build_feature_set(name, bars)
    cut = pd.Timestamp(np.sort(bars["date"].unique())[100])
    prefix = build_feature_set(name, bars[bars["date"] <= cut])
    upto = full[full["date"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(prefix.reset_index(drop=True), upto, check_exact=False, rtol=1e-9)
