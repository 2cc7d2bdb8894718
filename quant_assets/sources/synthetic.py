"""Synthetic daily bars for scale tests: seeded geometric Brownian motion with consistent OHLC.

Real data is for correctness; this is for volume. The same seed always gives the same panel, so a
benchmark's figures can be compared across runs. Options add what real feeds contain: stock splits
(history stays unadjusted, as a raw feed delivers it) and missing sessions (gaps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.core.calendar import trading_calendar

TRADING_DAYS_PER_YEAR = 252


def gbm_panel(n_symbols: int, n_days: int, seed: int = 0, start: str = "2010-01-04") -> dict[str, np.ndarray]:
    """(n_symbols, n_days) OHLCV arrays from geometric Brownian motion, reproducible from ``seed``.

    Close follows GBM (drift 0..15 %/yr, volatility 15..60 %/yr); the open gaps from the previous close;
    high/low lie outside max/min(open, close), so every bar is OHLC-consistent; volume is a positive int.
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / TRADING_DAYS_PER_YEAR
    mu = rng.uniform(0.0, 0.15, (n_symbols, 1))
    sigma = rng.uniform(0.15, 0.60, (n_symbols, 1))
    daily_sd = sigma * np.sqrt(dt)
    start_price = rng.uniform(10.0, 500.0, (n_symbols, 1))
    log_steps = (mu - sigma**2 / 2) * dt + daily_sd * rng.standard_normal((n_symbols, n_days))
    close = start_price * np.exp(np.cumsum(log_steps, axis=1))
    previous_close = np.concatenate([start_price, close[:, :-1]], axis=1)
    shape = (n_symbols, n_days)
    open_ = previous_close * np.exp(0.3 * daily_sd * rng.standard_normal(shape))
    high = np.maximum(open_, close) * np.exp(0.5 * daily_sd * np.abs(rng.standard_normal(shape)))
    low = np.minimum(open_, close) * np.exp(-0.5 * daily_sd * np.abs(rng.standard_normal(shape)))
    base_volume = rng.uniform(1e5, 5e7, (n_symbols, 1))
    volume = np.maximum(1, np.rint(base_volume * rng.lognormal(0.0, 0.4, shape))).astype(np.int64)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "dates": pd.bdate_range(start, periods=n_days).to_numpy(),
            "symbols": np.array([f"S{i:04d}" for i in range(n_symbols)], dtype=object)}  # fmt: skip


def gbm_bars(panel: dict[str, np.ndarray]) -> pd.DataFrame:
    """The panel as long bars ``symbol, date, open, high, low, close, volume``, sorted by symbol, date."""
    n_symbols, n_days = panel["close"].shape
    return pd.DataFrame({
        "symbol": np.repeat(panel["symbols"], n_days),
        "date": np.tile(panel["dates"], n_symbols),
        **{name: panel[name].ravel() for name in ("open", "high", "low", "close", "volume")},
    })  # fmt: skip


def apply_unadjusted_splits(bars: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Bars as a raw feed shows them when ``splits`` (symbol, date, ratio) happened: on and after each
    ex-date prices are divided by ``ratio`` and volume multiplied by it. Returns a new frame."""
    out = bars.copy()
    for split in splits.itertuples(index=False):
        after = (out["symbol"] == split.symbol) & (out["date"] >= pd.Timestamp(split.date))
        out.loc[after, ["open", "high", "low", "close"]] /= split.ratio
        out.loc[after, "volume"] = out.loc[after, "volume"] * split.ratio
    return out


def synthetic_bars(
    n_symbols: int,
    n_days: int,
    seed: int = 0,
    start: str = "2010-01-04",
    split_share: float = 0.0,
    gap_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(bars, splits)``: raw (unadjusted) long bars on NYSE sessions and the splits inside them.

    ``split_share`` of the symbols get one 2:1, 3:1 or 4:1 split somewhere in their middle half;
    ``gap_share`` of all bars are dropped at random (missing sessions a calendar check should flag).
    """
    rng = np.random.default_rng(seed + 1)
    panel = gbm_panel(n_symbols, n_days, seed, start)
    sessions = trading_calendar().sessions
    panel["dates"] = sessions[sessions >= pd.Timestamp(start)][:n_days].tz_localize(None).to_numpy()
    if len(panel["dates"]) < n_days:
        raise ValueError(f"not enough NYSE sessions after {start} for {n_days} days")
    bars = gbm_bars(panel).astype({"volume": float})
    symbols = bars["symbol"].unique()
    dates = bars["date"].unique()
    n_split = int(round(split_share * n_symbols))
    chosen = rng.choice(symbols, size=n_split, replace=False) if n_split else np.array([], dtype=object)
    splits = pd.DataFrame(
        {
            "symbol": pd.Series(chosen, dtype=object),
            "date": pd.to_datetime(dates[rng.integers(n_days // 4, 3 * n_days // 4, n_split)]),
            "ratio": rng.choice([2.0, 3.0, 4.0], size=n_split),
        }
    )
    bars = apply_unadjusted_splits(bars, splits)
    if gap_share > 0:
        bars = bars[rng.random(len(bars)) >= gap_share].reset_index(drop=True)
    return bars, splits.sort_values(["symbol", "date"]).reset_index(drop=True)
