"""Risk of today's target weights, measured on the history of the names they hold.

Today's weights are applied to each past day's returns (historical simulation: what this portfolio
would have done on every day of the window, rebalanced daily to these weights). Every figure says what
it is:

- **VaR / CVaR**, each at 95 % and 99 %, over 1 day and over the forecast horizon (h days), as a loss
  (a positive fraction of value):
  - ``historical``: the empirical quantile of the simulated returns (for h days: of overlapping
    compounded h-day returns), and the mean of the returns at or below it (QuantStats' historical CVaR);
  - ``parametric``: a normal distribution fitted to the daily simulated returns (over 1 day equal to
    QuantStats' ``value_at_risk`` and ``cvar(method="parametric")``); over h days mean and variance
    scale with h (scipy's normal).
- **volatility**: annualised (x sqrt(252)) std of the simulated daily returns;
- **beta** to SPY on the days both have (QuantStats ``greeks``);
- **exposure**: gross (sum |w|) and net (sum w); cash is 1 - net;
- **concentration**: largest weight and the effective number of names, 1 / sum(w^2) (inverse Herfindahl);
- **stress**: the worst k-day windows of the simulated history (k = 1, 5, 21), with their dates.

QuantStats (already pinned for the backtest's metrics) supplies the historical CVaR and beta; skfolio
and riskfolio-lib would bring cvxpy models we do not need for measuring one fixed portfolio.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from quant_assets.core.performance import _quantstats

CONFIDENCES = (0.95, 0.99)
STRESS_WINDOWS = (1, 5, 21)
TRADING_DAYS_PER_YEAR = 252


def simulated_returns(weights: pd.Series, closes: pd.DataFrame, lookback: int = 504) -> pd.Series:
    """Daily returns of ``weights`` held over the last ``lookback`` dates of ``closes`` (a name's missing
    day counts as flat). Cash (1 - sum of weights) earns nothing."""
    held = weights[weights != 0]
    missing = sorted(set(held.index) - set(closes.columns), key=str)
    if missing:
        raise ValueError(f"no closes for weighted symbols {missing[:10]}")
    returns = closes[list(held.index)].sort_index().pct_change(fill_method=None).iloc[1:].tail(lookback)
    return (returns.fillna(0.0) @ held).rename("portfolio")


def _horizon_returns(daily: pd.Series, horizon: int) -> pd.Series:
    return (1 + daily).rolling(horizon).apply(np.prod, raw=True).dropna() - 1


def value_at_risk_table(daily: pd.Series, horizon: int) -> list[dict[str, object]]:
    """Rows ``method, confidence, days, var, cvar`` (losses as positive fractions)."""
    qs = _quantstats()
    rows = []
    for days in sorted({1, horizon}):
        sample = daily if days == 1 else _horizon_returns(daily, days)
        for confidence in CONFIDENCES:
            alpha = 1 - confidence
            threshold = float(sample.quantile(alpha))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                historical_cvar = float(qs.stats.cvar(sample, confidence=confidence, method="historical"))
            # Normal over `days`: mean x days, std x sqrt(days) (for 1 day, QuantStats' value_at_risk and
            # parametric cvar give the same numbers; a test checks it).
            mean, std = daily.mean() * days, daily.std() * np.sqrt(days)
            z = norm.ppf(alpha)
            parametric_var = mean + z * std
            parametric_cvar = mean - std * norm.pdf(z) / alpha
            rows.append({"method": "historical", "confidence": confidence, "days": days,
                         "var": -threshold, "cvar": -historical_cvar})  # fmt: skip
            rows.append({"method": "parametric", "confidence": confidence, "days": days,
                         "var": -parametric_var, "cvar": -parametric_cvar})  # fmt: skip
    return rows


def stress_table(daily: pd.Series, windows: tuple[int, ...] = STRESS_WINDOWS) -> list[dict[str, object]]:
    """The worst ``k``-day window of the simulated history for each k: its dates and compounded return."""
    rows = []
    for k in windows:
        compounded = _horizon_returns(daily, k) if k > 1 else daily
        if compounded.empty:
            continue
        end = compounded.idxmin()
        start = daily.index[max(daily.index.get_loc(end) - k + 1, 0)]
        rows.append({"days": k, "start": str(start.date()), "end": str(end.date()),
                     "return": float(compounded.min())})  # fmt: skip
    return rows


def portfolio_risk(
    weights: pd.Series, closes: pd.DataFrame, *, horizon_days: int, spy_closes: pd.Series | None = None,
    lookback: int = 504,
) -> dict[str, object]:  # fmt: skip
    """Every measure in the module docstring for ``weights`` (index symbol) on ``closes`` (wide)."""
    if weights.empty:
        raise ValueError("no weights to measure")
    daily = simulated_returns(weights, closes, lookback)
    if len(daily) < 30:
        raise ValueError(f"only {len(daily)} days of returns for these names; need 30 for a risk estimate")
    result: dict[str, object] = {
        "as_of": str(pd.Timestamp(closes.index.max()).date()),
        "days": int(len(daily)),
        "volatility": float(daily.std() * np.sqrt(TRADING_DAYS_PER_YEAR)),
        "gross_exposure": float(weights.abs().sum()),
        "net_exposure": float(weights.sum()),
        "largest_weight": float(weights.max()),
        "largest_name": str(weights.idxmax()),
        "effective_names": float(1 / (weights**2).sum()),
        "var": value_at_risk_table(daily, horizon_days),
        "stress": stress_table(daily),
        "beta_spy": None,
    }
    if spy_closes is not None and not spy_closes.empty:
        spy = spy_closes.sort_index().pct_change(fill_method=None).dropna()
        both = pd.concat([daily, spy.rename("spy")], axis=1, join="inner").dropna()
        if len(both) >= 30:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result["beta_spy"] = float(_quantstats().stats.greeks(both["portfolio"], both["spy"])["beta"])
    return result
