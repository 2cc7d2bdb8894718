"""build_alpha_features: hand-checked values, a pandas re-implementation of Qlib's Alpha158 formulas on real
bars, the output contract, and the no-look-ahead guard (prefix invariance)."""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.core import alpha_features
from quant_assets.core.alpha_features import ALPHA_FEATURE_COLUMNS, WINDOWS, build_alpha_features

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "sp500_2013_2018"
COLUMNS = list(ALPHA_FEATURE_COLUMNS)


def bars_from(close, open_=None, high=None, low=None, volume=None, symbol="AAA") -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    same = lambda x: close if x is None else np.asarray(x, dtype=float)  # noqa: E731
    return pd.DataFrame({
        "symbol": symbol,
        "date": pd.bdate_range("2020-01-01", periods=len(close)),
        "open": same(open_), "high": same(high), "low": same(low), "close": close,
        "volume": np.full(len(close), 1000) if volume is None else np.asarray(volume),
    })  # fmt: skip


@cache
def _bundled(symbol: str) -> pd.DataFrame:
    bars = pd.read_csv(BUNDLED / f"{symbol}_data.csv").rename(columns={"Name": "symbol"})
    bars["date"] = pd.to_datetime(bars["date"])
    return bars[["symbol", "date", "open", "high", "low", "close", "volume"]]


def bundled(*symbols: str) -> pd.DataFrame:
    return pd.concat([_bundled(s) for s in symbols], ignore_index=True)


@cache
def aapl_features() -> pd.DataFrame:
    return build_alpha_features(_bundled("AAPL"))


def first_valid(name: str) -> int:
    """Index of the first value: 0 for the current bar, w - 1 for w bars, w for w day-on-day changes."""
    if "_" not in name or name.endswith("_0"):
        return 0
    op, w = name.rsplit("_", 1)
    changes = (
        "roc",
        "cord",
        "cntp",
        "cntn",
        "cntd",
        "sump",
        "sumn",
        "sumd",
        "wvma",
        "vsump",
        "vsumn",
        "vsumd",
    )
    return int(w) if op in changes else int(w) - 1


# --- hand-checked values ------------------------------------------------------------------------------------


def test_kbar_and_price_features_by_hand():
    f = build_alpha_features(bars_from([9.5, 7.0], open_=[10, 7], high=[12, 7], low=[9, 7])).iloc[0]
    expected = {
        "kmid": -0.05, "klen": 0.3, "kmid2": -0.5 / 3, "kup": 0.2, "kup2": 2 / 3, "klow": 0.05,
        "klow2": 0.5 / 3, "ksft": -0.2, "ksft2": -2 / 3,
        "open_0": 10 / 9.5, "high_0": 12 / 9.5, "low_0": 9 / 9.5,
    }  # fmt: skip
    for name, value in expected.items():
        assert f[name] == pytest.approx(value, rel=1e-12), name
    flat = build_alpha_features(bars_from([9.5, 7.0], open_=[10, 7], high=[12, 7], low=[9, 7])).iloc[1]
    assert flat[["kmid", "klen", "kup", "klow", "ksft"]].eq(0).all()  # a bar with high == low
    assert flat[["kmid2", "kup2", "klow2", "ksft2"]].isna().all()


def test_linear_close_by_hand():
    """close = 100 + 2t, high/low 1 either side: a perfect trend every window sees the same way."""
    t = np.arange(80)
    close = 100.0 + 2 * t
    f = build_alpha_features(bars_from(close, open_=close - 1, high=close + 1, low=close - 1)).iloc[-1]
    c = close[-1]  # 258
    for w in WINDOWS:
        assert f[f"roc_{w}"] == pytest.approx(-2 * w / c, rel=1e-12)
        assert f[f"ma_{w}"] == pytest.approx((c - (w - 1)) / c, rel=1e-12)  # mean of the last w closes
        assert f[f"std_{w}"] == pytest.approx(2 * np.sqrt(w * (w + 1) / 12) / c, rel=1e-9)  # sample std
        assert f[f"beta_{w}"] == pytest.approx(2 / c, rel=1e-9)
        assert f[f"rsqr_{w}"] == pytest.approx(1.0, rel=1e-9)
        assert f[f"resi_{w}"] == pytest.approx(0.0, abs=1e-9)
        assert f[f"max_{w}"] == pytest.approx((c + 1) / c, rel=1e-12)
        assert f[f"min_{w}"] == pytest.approx((c - 2 * (w - 1) - 1) / c, rel=1e-12)
        for op, q in (("qtlu", 0.8), ("qtld", 0.2)):  # an arithmetic window: the quantile is linear in q
            assert f[f"{op}_{w}"] == pytest.approx((c - 2 * (w - 1) * (1 - q)) / c, rel=1e-12)
        assert f[f"rank_{w}"] == 1.0  # today's close is the window's unique maximum
        assert f[f"rsv_{w}"] == pytest.approx((2 * w - 1) / (2 * w), rel=1e-12)
        assert f[f"imax_{w}"] == 1.0 and f[f"imin_{w}"] == 1 / w  # high is today's, low the oldest bar's
        assert f[f"imxd_{w}"] == pytest.approx((w - 1) / w, rel=1e-12)
        assert (f[f"cntp_{w}"], f[f"cntn_{w}"], f[f"cntd_{w}"]) == (1.0, 0.0, 1.0)
        assert (f[f"sump_{w}"], f[f"sumn_{w}"], f[f"sumd_{w}"]) == (1.0, 0.0, 1.0)
        # constant volume: ratios of 1 and 0, and nothing to correlate with or to sum
        assert f[f"vma_{w}"] == pytest.approx(1.0, rel=1e-12) and f[f"vstd_{w}"] == 0.0
        assert f[[f"corr_{w}", f"cord_{w}", f"vsump_{w}", f"vsumn_{w}", f"vsumd_{w}"]].isna().all()
        weighted = 2 / close[-w - 1 : -1] * 1000  # |return| * volume over the last w days
        assert f[f"wvma_{w}"] == pytest.approx(np.std(weighted, ddof=1) / np.mean(weighted), rel=1e-7)


def test_counts_sums_and_volume_by_hand():
    close = [10, 11, 10.5, 10.5, 12, 11]  # changes +1, -0.5, 0, +1.5, -1
    volume = [100, 300, 200, 200, 600, 100]  # changes +200, -100, 0, +400, -500
    f = build_alpha_features(bars_from(close, volume=volume))
    last = f.iloc[-1]
    assert (last["cntp_5"], last["cntn_5"], last["cntd_5"]) == (0.4, 0.4, 0.0)
    assert last["sump_5"] == pytest.approx(2.5 / 4.0) and last["sumn_5"] == pytest.approx(1.5 / 4.0)
    assert last["sumd_5"] == pytest.approx(1.0 / 4.0)
    assert last["vsump_5"] == pytest.approx(600 / 1200) and last["vsumd_5"] == pytest.approx(0.0, abs=1e-15)
    window = np.array(volume[1:], dtype=float)
    assert last["vma_5"] == pytest.approx(window.mean() / 100)
    assert last["vstd_5"] == pytest.approx(window.std(ddof=1) / 100)
    assert last["roc_5"] == pytest.approx(10 / 11 - 1)
    assert last["rank_5"] == pytest.approx(
        3.5 / 5
    )  # 11 in 11, 10.5, 10.5, 12, 11: 2 below, 2 tied (rank 3.5)
    assert np.isnan(f.loc[4, "cntp_5"]) and f.loc[4, "ma_5"] == pytest.approx(np.mean(close[:5]) / 12)


# --- independent reference: Qlib's formulas in pandas on real bars ------------------------------------------


def qlib_reference(bars: pd.DataFrame, op: str, w: int) -> pd.Series:
    """Alpha158's expression for ``op`` over w bars, written with pandas rolling windows (full windows)."""
    close, high, low, volume = (bars[c].astype(float) for c in ("close", "high", "low", "volume"))
    change, v_change = close.diff(), volume.diff()
    weighted = (close / close.shift() - 1).abs() * volume
    formulas = {
        "roc": lambda: close.shift(w) / close - 1,
        "ma": lambda: close.rolling(w).mean() / close,
        "std": lambda: close.rolling(w).std() / close,
        "max": lambda: high.rolling(w).max() / close,
        "min": lambda: low.rolling(w).min() / close,
        "qtlu": lambda: close.rolling(w).quantile(0.8) / close,
        "qtld": lambda: close.rolling(w).quantile(0.2) / close,
        "rank": lambda: close.rolling(w).rank(pct=True),
        "rsv": lambda: (close - low.rolling(w).min()) / (high.rolling(w).max() - low.rolling(w).min()),
        "imax": lambda: high.rolling(w).apply(lambda x: x.argmax() + 1, raw=True) / w,
        "imin": lambda: low.rolling(w).apply(lambda x: x.argmin() + 1, raw=True) / w,
        "corr": lambda: close.rolling(w).corr(np.log(volume + 1)),
        "cord": lambda: (close / close.shift()).rolling(w).corr(np.log(volume / volume.shift() + 1)),
        "cntp": lambda: (change > 0).astype(float).where(change.notna()).rolling(w).mean(),
        "sump": lambda: change.clip(lower=0).rolling(w).sum() / change.abs().rolling(w).sum(),
        "sumn": lambda: (-change).clip(lower=0).rolling(w).sum() / change.abs().rolling(w).sum(),
        "vma": lambda: volume.rolling(w).mean() / volume,
        "vstd": lambda: volume.rolling(w).std() / volume,
        "wvma": lambda: weighted.rolling(w).std() / weighted.rolling(w).mean(),
        "vsump": lambda: v_change.clip(lower=0).rolling(w).sum() / v_change.abs().rolling(w).sum(),
    }
    return formulas[op]()


@pytest.mark.parametrize("w", WINDOWS)
@pytest.mark.parametrize(
    "op",
    ["roc", "ma", "std", "max", "min", "qtlu", "qtld", "rank", "rsv", "imax", "imin", "corr", "cord", "cntp",
     "sump", "sumn", "vma", "vstd", "wvma", "vsump"],
)  # fmt: skip
def test_matches_pandas_reimplementation_of_qlib_formulas(op, w):
    bars = _bundled("AAPL")
    expected = qlib_reference(bars, op, w).to_numpy()
    actual = aapl_features()[f"{op}_{w}"].to_numpy()
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    assert np.allclose(actual, expected, rtol=1e-7, atol=1e-9, equal_nan=True)


def test_regression_features_match_numpy_polyfit():
    bars = _bundled("AAPL")
    f = aapl_features()
    close = bars["close"].to_numpy()
    for w in WINDOWS:
        for t in (w - 1, 300, len(bars) - 1):
            y = close[t - w + 1 : t + 1]
            slope, intercept = np.polyfit(np.arange(w), y, 1)
            assert f.loc[t, f"beta_{w}"] == pytest.approx(slope / close[t], rel=1e-6)
            assert f.loc[t, f"resi_{w}"] * close[t] == pytest.approx(
                y[-1] - (intercept + slope * (w - 1)), abs=1e-6
            )
            assert f.loc[t, f"rsqr_{w}"] == pytest.approx(np.corrcoef(np.arange(w), y)[0, 1] ** 2, rel=1e-6)


# --- output contract ----------------------------------------------------------------------------------------


def test_columns_dtypes_and_warm_up_on_real_bars():
    f = aapl_features()
    assert len(COLUMNS) == len(set(COLUMNS)) == 157
    assert list(f.columns) == ["symbol", "date", *COLUMNS]
    assert (f[COLUMNS].dtypes == np.float64).all() and isinstance(f.index, pd.RangeIndex)
    for name in COLUMNS:  # NaN exactly until the window is full, finite from then on
        values, start = f[name].to_numpy(), first_valid(name)
        assert np.isnan(values[:start]).all(), name
        assert np.isfinite(values[start:]).all(), name


def test_flat_bars_and_zero_volume_give_nan_not_inf():
    """A halted stock: flat OHLC (high == low) and no volume, after a normal stretch."""
    rng = np.random.default_rng(0)
    close = np.r_[rng.uniform(40, 60, 70), np.full(70, 50.1)]
    bars = bars_from(
        close, high=close * 1.01, low=close * 0.99, volume=np.r_[np.full(70, 1000), np.zeros(70)]
    )
    bars.loc[70:, ["open", "high", "low"]] = 50.1
    f = build_alpha_features(bars)
    assert not np.isinf(f[COLUMNS].to_numpy()).any()
    last = f.iloc[-1]
    for w in WINDOWS:
        assert last[f"std_{w}"] == 0.0 and last[f"cntp_{w}"] == 0.0 and last[f"rank_{w}"] == (w + 1) / (2 * w)
        assert last[f"roc_{w}"] == 0.0 and last[f"ma_{w}"] == pytest.approx(1.0, rel=1e-12)
        for op in ("rsqr", "rsv", "corr", "cord", "sump", "sumd", "vma", "vstd", "wvma", "vsump"):
            assert np.isnan(last[f"{op}_{w}"]), f"{op}_{w}"
    assert last[["kmid2", "kup2", "klow2", "ksft2"]].isna().all()


def test_zero_volume_day_only_blanks_the_windows_that_hold_it():
    bars = _bundled("AAPL").head(200).copy()
    bars.loc[100, "volume"] = 0
    f = build_alpha_features(bars)
    assert not np.isinf(f[COLUMNS].to_numpy()).any()
    assert np.isnan(f.loc[100, "vma_5"]) and np.isfinite(f.loc[101, "vma_5"])  # / today's volume
    # log(volume / previous + 1) is inf the day after: CORD is NaN while its window holds that day only
    assert np.isnan(f.loc[101:105, "cord_5"]).all() and np.isfinite(f.loc[[99, 106], "cord_5"]).all()
    assert np.isnan(f.loc[101:160, "cord_60"]).all()
    assert np.isfinite(f.loc[161:, COLUMNS].to_numpy()).all()  # TA-Lib's running sums recovered


# --- leakage guard ------------------------------------------------------------------------------------------


def test_features_at_t_never_depend_on_later_bars():
    """Prefix invariance: features on history truncated at t equal the full-history features up to t."""
    bars = bundled("AAPL", "ABT")
    full = build_alpha_features(bars)
    dates = np.sort(bars["date"].unique())
    cuts = np.random.default_rng(42).choice(np.arange(1, len(dates) - 1), size=6, replace=False)
    for t in dates[[0, 4, 59, 60, *cuts]]:
        truncated = build_alpha_features(bars[bars["date"] <= t])
        expected = full[full["date"] <= t].reset_index(drop=True)
        assert truncated[["symbol", "date"]].equals(expected[["symbol", "date"]])
        for name in COLUMNS:
            a, e = truncated[name].to_numpy(), expected[name].to_numpy()
            assert np.allclose(a, e, rtol=1e-10, atol=1e-12, equal_nan=True), (str(t)[:10], name)


# --- frame handling -----------------------------------------------------------------------------------------


def test_symbols_do_not_bleed_and_input_order_does_not_matter(monkeypatch):
    short = _bundled("AMZN").tail(30).assign(symbol="ZZZ")  # sorts last, shorter than the longest window
    parts = [short, _bundled("AAPL"), _bundled("ABT")]
    mixed = pd.concat(parts, ignore_index=True)
    shuffled = build_alpha_features(mixed.sample(frac=1, random_state=7))
    in_order = build_alpha_features(mixed.sort_values(["symbol", "date"]))
    pd.testing.assert_frame_equal(shuffled, in_order, check_exact=True)
    assert shuffled["symbol"].tolist() == sorted(shuffled["symbol"].tolist()) and len(shuffled) == len(mixed)
    for part in parts:
        symbol = part["symbol"].iloc[0]
        alone = build_alpha_features(part.iloc[::-1])
        together = shuffled[shuffled["symbol"] == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(together, alone, check_exact=True)
        assert together["date"].is_monotonic_increasing
    # Symbols are computed in blocks; splitting them differently changes nothing.
    monkeypatch.setattr(alpha_features, "BLOCK_ROWS", 700)
    pd.testing.assert_frame_equal(build_alpha_features(mixed), in_order, check_exact=True)


def test_history_shorter_than_every_window_is_all_nan_but_kbar():
    f = build_alpha_features(_bundled("ABT").head(3))
    assert len(f) == 3
    assert f[COLUMNS[12:]].drop(columns=["roc_5"]).isna().all().all()
    assert f[COLUMNS[:12]].notna().all().all()


@pytest.mark.parametrize("missing", ["open", "volume", "symbol"])
def test_missing_column_is_named(missing):
    with pytest.raises(ValueError, match=missing):
        build_alpha_features(bars_from([1.0, 2.0, 3.0]).drop(columns=missing))


def test_empty_input_gives_empty_frame_with_all_columns():
    f = build_alpha_features(bars_from([]))
    assert f.empty and list(f.columns) == ["symbol", "date", *COLUMNS]
    assert (f[COLUMNS].dtypes == np.float64).all() and f["date"].dtype == "datetime64[ns]"
