"""Splits and dividends: our backward adjustment reproduces Yahoo's, re-adjusts on a new split, flags
unrecorded splits and duplicated dividends, and leaks nothing from the future into features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.core.corporate_actions import (
    adjust_for_actions,
    suspected_duplicate_dividends,
    suspected_splits,
)
from quant_assets.core.features import FEATURE_COLUMNS, build_features
from quant_assets.core.validation import split_valid_bars
from quant_assets.sources.layouts import read_bar_file
from quant_assets.sources.synthetic import synthetic_bars

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bars"


def test_dividend_adjustment_matches_yahoos_adjusted_close():
    """CALM 2022-2024, 10 real dividends: our adjusted close equals the export's Adj Close."""
    parsed = read_bar_file(FIXTURES / "CALM-1d-no-bad-divs.csv")
    assert (parsed.actions["action"] == "dividend").sum() == 10
    valid, quarantined = split_valid_bars(parsed.bars)
    assert quarantined.empty
    adjusted = adjust_for_actions(valid, parsed.actions)
    yahoo = pd.read_csv(FIXTURES / "CALM-1d-no-bad-divs.csv")["Adj Close"].to_numpy()
    np.testing.assert_allclose(adjusted["close"].to_numpy(), yahoo, rtol=1e-6)
    assert (adjusted["raw_close"] == valid["close"]).all()


def test_duplicated_dividend_is_flagged_as_yfinance_repairs_it():
    actions = read_bar_file(FIXTURES / "SAND-1d-bad-div.csv").actions
    flagged = suspected_duplicate_dividends(actions)
    assert flagged[["date", "value", "repeated_on"]].values.tolist() == [
        [pd.Timestamp("2024-01-12"), 0.015, pd.Timestamp("2024-01-16")]
    ]
    repaired = read_bar_file(FIXTURES / "SAND-1d-bad-div-fixed.csv").actions
    assert pd.Timestamp("2024-01-12") not in set(repaired["date"])  # the one yfinance dropped
    assert suspected_duplicate_dividends(repaired).empty


def test_recorded_split_re_adjusts_history_and_unrecorded_one_is_flagged():
    bars, splits = synthetic_bars(4, 300, seed=3, split_share=0.5)
    assert len(splits) == 2
    flagged = suspected_splits(bars)
    assert (
        flagged[["symbol", "date", "ratio"]].values.tolist()
        == splits[["symbol", "date", "ratio"]].values.tolist()
    )
    actions = splits.assign(action="split").rename(columns={"ratio": "value"})
    adjusted = adjust_for_actions(bars, actions)
    assert suspected_splits(adjusted).empty  # once recorded, nothing left to flag
    clean, _ = synthetic_bars(4, 300, seed=3)
    # adjusted history equals the series without splits, scaled to today's share count
    for split in splits.itertuples():
        one = adjusted[adjusted["symbol"] == split.symbol].set_index("date")
        ref = clean[clean["symbol"] == split.symbol].set_index("date")
        np.testing.assert_allclose(one["close"], ref["close"] / split.ratio, rtol=1e-12)
        np.testing.assert_allclose(one["volume"], ref["volume"] * split.ratio, rtol=1e-12)


def test_a_real_overnight_crash_is_not_a_split():
    """BHGE 2017-07-05 (the GE merger, a special dividend): price x0.65 with flat volume, not a split."""
    from quant_assets.settings import BUNDLED_DATA_DIR
    from quant_assets.sources.bundled import read_bundled_file

    valid, _ = split_valid_bars(read_bundled_file(BUNDLED_DATA_DIR / "BHGE_data.csv"))
    assert suspected_splits(valid).empty


def test_adjustment_leaks_no_future_into_features():
    """Features at t are the same whether the split after t is known (adjusted) or not (as traded)."""
    bars, splits = synthetic_bars(2, 400, seed=5, split_share=1.0)
    actions = splits.assign(action="split").rename(columns={"ratio": "value"})
    first = splits.iloc[0]
    before = bars[(bars["symbol"] == first.symbol) & (bars["date"] < first.date)]
    known_then = build_features(before)
    known_later = build_features(adjust_for_actions(bars, actions))
    known_later = known_later[(known_later["symbol"] == first.symbol) & (known_later["date"] < first.date)]
    for name in FEATURE_COLUMNS:
        np.testing.assert_allclose(
            known_then[name], known_later[name], rtol=1e-9, equal_nan=True, err_msg=name
        )


def test_dividend_at_or_above_the_price_is_an_error_naming_symbol_and_date():
    valid, _ = split_valid_bars(read_bar_file(FIXTURES / "AAPL_data.csv").bars)
    bad = pd.DataFrame(
        [{"symbol": "AAPL", "date": pd.Timestamp("2013-03-01"), "action": "dividend", "value": 500.0}]
    )
    with pytest.raises(ValueError, match="AAPL 2013-03-01: dividend 500.0 is not below the previous close"):
        adjust_for_actions(valid, bad)
