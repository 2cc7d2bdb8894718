"""Synthetic markets for tests: bars with planted (or no) predictability, and their labelled dataset.

Importable from any test module (``tests/`` is on pytest's ``pythonpath``).
"""

import numpy as np
import pandas as pd

from quant_assets.core.features import build_features
from quant_assets.core.labels import forward_returns, label_span
from quant_assets.core.walk_forward import WalkForwardConfig, walk_forward_folds


def gbm_bars(n_symbols: int, n_days: int, seed: int, autocorrelation: float = 0.0) -> pd.DataFrame:
    """Daily bars whose open-to-open returns follow AR(1) with the given coefficient (0 = random walk)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_symbols):
        shocks = rng.normal(scale=0.015, size=n_days)
        returns = np.zeros(n_days)
        for t in range(1, n_days):
            returns[t] = autocorrelation * returns[t - 1] + shocks[t]
        opens = 50 * np.exp(np.cumsum(returns))
        closes = opens * np.exp(rng.normal(scale=0.002, size=n_days))
        frames.append(_bars(f"S{i:02d}", opens, closes, rng, spread=0.005))
    return pd.concat(frames, ignore_index=True)


def _bars(symbol: str, opens: np.ndarray, closes: np.ndarray, rng, spread: float) -> pd.DataFrame:
    """One symbol's business-day bars from its opens and closes; high/low ``spread`` outside them."""
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.bdate_range("2015-01-01", periods=len(opens)),
            "open": opens,
            "high": np.maximum(opens, closes) * (1 + spread),
            "low": np.minimum(opens, closes) * (1 - spread),
            "close": closes,
            "volume": rng.uniform(1e5, 2e5, size=len(opens)),
        }
    )


def dataset(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    return (
        build_features(bars).merge(forward_returns(bars, horizon), on=["symbol", "date"]).sort_values("date")
    )


def gapped_dataset() -> tuple[pd.DataFrame, WalkForwardConfig]:
    """S00 misses 12 sessions just before the first test window (a halt): its labels there reach in."""
    bars = gbm_bars(4, 700, seed=9, autocorrelation=0.3)
    config = WalkForwardConfig(purge_days=label_span(5), n_folds=2, test_days=60, min_train_days=150)
    data = dataset(bars, horizon=5)
    first_test = walk_forward_folds(data["date"], config)[0].test_start
    dates = np.sort(bars["date"].unique())
    at = int(np.searchsorted(dates, np.datetime64(first_test)))
    halted = bars["date"].isin(dates[at - 10 : at + 2]) & (bars["symbol"] == "S00")
    return dataset(bars[~halted], horizon=5), config


def mean_reverting_bars(
    n_symbols: int, n_days: int, seed: int, persistence: float = 0.9, deviation: float = 0.08
) -> pd.DataFrame:
    """Bars whose log price is a slow random walk plus a mean-reverting (AR(1)) deviation: a name far
    above its recent average tends to fall back over the next days, which price features can see."""
    rng = np.random.default_rng(seed)
    innovation = deviation * np.sqrt(1 - persistence**2)
    frames = []
    for i in range(n_symbols):
        trend = np.cumsum(rng.normal(0.0003, 0.004, size=n_days))
        gap = np.zeros(n_days)
        for t in range(1, n_days):
            gap[t] = persistence * gap[t - 1] + rng.normal(scale=innovation)
        closes = 40 * np.exp(trend + gap)
        opens = np.r_[closes[0], closes[:-1]] * np.exp(rng.normal(scale=0.001, size=n_days))
        frames.append(_bars(f"M{i:02d}", opens, closes, rng, spread=0.004))
    return pd.concat(frames, ignore_index=True)
