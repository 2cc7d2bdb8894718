"""Throughput of build_features against a bare TA-Lib loop, on a synthetic GBM OHLCV panel.

    python benchmarks/features.py [--symbols 500 --days 2520 --seed 0 --repeat 3]

The baseline calls the same TA-Lib functions per symbol on ready-made numpy arrays, with no pandas
bookkeeping (no sorting, no grouping, no output frame): the ratio is what build_features' frame handling
costs on top of the indicator arithmetic itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib

from quant_assets.core.features import FEATURE_COLUMNS, build_features
from quant_assets.sources.synthetic import gbm_bars, gbm_panel


def _lag(values: np.ndarray, periods: int) -> np.ndarray:
    lagged = np.full_like(values, np.nan)
    lagged[periods:] = values[:-periods]
    return lagged


def talib_loop(panel: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Baseline: the same TA-Lib calls and ratios, one symbol (one contiguous row) at a time."""
    out = []
    volume_all = panel["volume"].astype(np.float64)
    for i in range(panel["close"].shape[0]):
        high, low, close, volume = panel["high"][i], panel["low"][i], panel["close"][i], volume_all[i]
        macd, signal, hist = talib.MACD(close, 12, 26, 9)
        upper, middle, lower = talib.BBANDS(close, 20, 2, 2, talib.MA_Type.SMA)
        obv = talib.OBV(close, volume)
        previous = _lag(close, 1)
        out.append({
            "ret_1d": close / previous - 1, "ret_5d": close / _lag(close, 5) - 1,
            "ret_20d": close / _lag(close, 20) - 1, "close_sma_20": close / middle - 1,
            "close_sma_50": close / talib.SMA(close, 50) - 1,
            "close_ema_20": close / talib.EMA(close, 20) - 1,
            "rsi_14": talib.RSI(close, 14), "macd": macd / close, "macd_signal": signal / close,
            "macd_hist": hist / close, "bb_width_20": (upper - lower) / middle,
            "bb_pctb_20": (close - lower) / (upper - lower),
            "atr_14_pct": talib.ATR(high, low, close, 14) / close,
            "obv_slope_20": (obv - _lag(obv, 20)) / talib.SUM(volume, 20),
            "volatility_20": talib.STDDEV(np.log(close / previous), 20, 1.0) * np.sqrt(252 * 20 / 19),
            "volume_ratio_20": volume / talib.SMA(volume, 20),
        })  # fmt: skip
    return out


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def panel_parser(description: str) -> argparse.ArgumentParser:
    """The options every panel benchmark shares: how many synthetic symbols and days, and the seed."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main() -> None:
    parser = panel_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    panel = gbm_panel(args.symbols, args.days, args.seed)
    bars = gbm_bars(panel)
    shuffled = bars.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    rows = len(bars)
    print(
        f"panel: {args.symbols} symbols x {args.days} days = {rows:,} rows, "
        f"{len(FEATURE_COLUMNS)} features, best of {args.repeat}; "
        f"talib {talib.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    )

    timings = {}
    timings["build_features (sorted input)"], features = best_of(args.repeat, lambda: build_features(bars))
    timings["build_features (shuffled input)"], _ = best_of(args.repeat, lambda: build_features(shuffled))
    timings["baseline: talib loop on arrays"], baseline = best_of(args.repeat, lambda: talib_loop(panel))

    for name in FEATURE_COLUMNS:  # same numbers, or the comparison is meaningless
        expected = np.concatenate([one[name] for one in baseline])
        expected[np.isinf(expected)] = np.nan
        assert np.allclose(features[name].to_numpy(), expected, rtol=1e-12, atol=0, equal_nan=True), name

    base = timings["baseline: talib loop on arrays"]
    print(f"{'':34s}{'rows':>12s}{'seconds':>10s}{'rows/s':>14s}{'x baseline':>12s}")
    for label, seconds in timings.items():
        print(f"{label:34s}{rows:>12,d}{seconds:>10.3f}{rows / seconds:>14,.0f}{seconds / base:>12.2f}")


if __name__ == "__main__":
    main()
