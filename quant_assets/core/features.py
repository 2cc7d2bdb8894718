"""Technical indicators per (symbol, date), with TA-Lib's definitions and seeding conventions.

Every feature is scale-free (returns, ratios to averages, oscillators) so one model fits many symbols,
and causal: the value at date t uses only that symbol's bars up to and including t's close. TA-Lib's
recursive indicators (EMA, RSI, ATR, MACD) depend on where a symbol's history starts, never on what
comes after t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close", "volume")
FEATURE_COLUMNS: tuple[str, ...] = (
    "ret_1d", "ret_5d", "ret_20d",  # simple returns, fraction (0.01 = +1 %)
    "close_sma_20", "close_sma_50", "close_ema_20",  # close / moving average - 1, fraction
    "rsi_14",  # Wilder RSI, 0..100
    "macd", "macd_signal", "macd_hist",  # MACD 12/26/9 lines / close, fraction of price
    "bb_width_20", "bb_pctb_20",  # Bollinger 20, 2 sd: (upper - lower) / middle; %B (0 = lower, 1 = upper)
    "atr_14_pct",  # Wilder ATR 14 / close, fraction of price
    "obv_slope_20",  # 20-day OBV change / 20-day volume, -1..1
    "volatility_20",  # annualised std of daily log returns (sample, ddof=1), fraction per year
    "volume_ratio_20",  # volume / its 20-day SMA
)  # fmt: skip
PRICE_INPUTS = ("high", "low", "close", "volume")  # symbol_features' arguments, in order
TRADING_DAYS_PER_YEAR = 252
VOLATILITY_WINDOW = 20
# talib.STDDEV is the population std; this turns it into the sample (ddof=1) std, annualised.
_VOLATILITY_SCALE = float(np.sqrt(TRADING_DAYS_PER_YEAR * VOLATILITY_WINDOW / (VOLATILITY_WINDOW - 1)))


def _lag(values: np.ndarray, periods: int) -> np.ndarray:
    """values shifted ``periods`` bars later (the bar ``periods`` back), NaN where there is none."""
    lagged = np.full_like(values, np.nan)
    if periods < len(values):
        lagged[periods:] = values[: len(values) - periods]
    return lagged


def symbol_features(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> dict[str, np.ndarray]:
    """All features for one symbol's bars in date order (contiguous float64 arrays of equal length).

    Ratios with a zero denominator (a flat band, a zero-volume window) come out as NaN, never inf.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
        upper, middle, lower = talib.BBANDS(close, 20, nbdevup=2, nbdevdn=2, matype=talib.MA_Type.SMA)
        obv = talib.OBV(close, volume)
        previous_close = _lag(close, 1)
        log_returns = np.log(close / previous_close)
        features = {
            "ret_1d": close / previous_close - 1,
            "ret_5d": close / _lag(close, 5) - 1,
            "ret_20d": close / _lag(close, 20) - 1,
            "close_sma_20": close / middle - 1,  # BBANDS' middle band is SMA(close, 20)
            "close_sma_50": close / talib.SMA(close, 50) - 1,
            "close_ema_20": close / talib.EMA(close, 20) - 1,
            "rsi_14": talib.RSI(close, 14),
            "macd": macd / close,
            "macd_signal": signal / close,
            "macd_hist": hist / close,
            "bb_width_20": (upper - lower) / middle,
            "bb_pctb_20": (close - lower) / (upper - lower),
            "atr_14_pct": talib.ATR(high, low, close, 14) / close,
            "obv_slope_20": (obv - _lag(obv, 20)) / talib.SUM(volume, 20),
            "volatility_20": talib.STDDEV(log_returns, VOLATILITY_WINDOW, 1.0) * _VOLATILITY_SCALE,
            "volume_ratio_20": volume / talib.SMA(volume, 20),
        }
    for values in features.values():
        values[np.isinf(values)] = np.nan
    return features


def empty_features() -> pd.DataFrame:
    """The output frame with no rows: the right columns and dtypes."""
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[ns]"),
            **{name: pd.Series(dtype=np.float64) for name in FEATURE_COLUMNS},
        }
    )


def _sort_order(codes: np.ndarray, dates: np.ndarray) -> np.ndarray | None:
    """Stable (symbol code, date) sort order, or None when the rows are already in that order."""
    step = np.diff(codes)
    if np.all((step > 0) | ((step == 0) & (dates[1:] >= dates[:-1]))):
        return None
    return np.lexsort((dates, codes))


def check_bar_columns(bars: pd.DataFrame, caller: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"{caller}: bars are missing column(s): {', '.join(missing)}")


def symbol_ordered_inputs(
    bars: pd.DataFrame, columns: tuple[str, ...], caller: str
) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """(symbol codes, the (symbol, date) sort order or None if already sorted, contiguous float64
    arrays of ``columns`` in that order): the per-symbol layout every feature builder works on."""
    check_bar_columns(bars, caller)
    codes, _ = pd.factorize(bars["symbol"], sort=True)
    order = _sort_order(codes, bars["date"].to_numpy())
    if order is not None:
        codes = codes[order]
    inputs = {}
    for name in columns:
        values = bars[name].to_numpy(dtype=np.float64)
        inputs[name] = np.ascontiguousarray(values if order is None else values[order])
    return codes, order, inputs


def keyed_frame(
    matrix: np.ndarray, columns: tuple[str, ...], bars: pd.DataFrame, order: np.ndarray | None
) -> pd.DataFrame:
    """A (feature, row) matrix as the output frame ``symbol, date, *columns``, without a copy."""
    features = pd.DataFrame(matrix.T, columns=list(columns), copy=False)
    keys = bars[["symbol", "date"]] if order is None else bars[["symbol", "date"]].take(order)
    features.insert(0, "symbol", keys["symbol"].array)
    features.insert(1, "date", keys["date"].array)
    return features


def build_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Long OHLCV (``symbol, date, open, high, low, close, volume``) -> ``symbol, date, *FEATURE_COLUMNS``.

    One output row per input row, sorted by symbol then date, index reset. Each symbol is computed on
    its own bars in date order; rows without enough history for an indicator hold NaN (none dropped).
    Bars are expected to be validated (finite prices): a NaN inside a history poisons the recursive
    indicators from there on.
    """
    if bars.empty:
        check_bar_columns(bars, "build_features")
        return empty_features()
    codes, order, inputs = symbol_ordered_inputs(bars, PRICE_INPUTS, "build_features")

    # One (feature, row) block written in place, handed to pandas without a copy.
    matrix = np.empty((len(FEATURE_COLUMNS), len(codes)), dtype=np.float64)
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
        one = symbol_features(*(np.ascontiguousarray(inputs[n][start:stop]) for n in PRICE_INPUTS))
        for row, name in enumerate(FEATURE_COLUMNS):
            matrix[row, start:stop] = one[name]
    return keyed_frame(matrix, FEATURE_COLUMNS, bars, order)
