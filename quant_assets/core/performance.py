"""Performance of a daily return series, computed by QuantStats (pinned: its definitions have changed
between releases) and the signal's information coefficient with an overlap-aware t-statistic.

Conventions, as QuantStats 0.0.86 defines them (daily simple returns, 252 periods a year, risk-free 0):
- ``annual_return``: compound annual growth, total growth ** (252 / number of days) - 1;
- ``volatility``: sample std of daily returns x sqrt(252);
- ``sharpe``, ``sortino``: annualised, risk-free 0 (Sortino's downside deviation over all days);
- ``max_drawdown``: worst fall from a running peak of equity (a negative fraction), with its start,
  valley (the low) and recovery dates (``None`` if not recovered by the end);
- ``calmar``: annual return / |max drawdown|;
- ``hit_rate``: share of days with a positive return among days with a non-zero one;
- ``var_95_daily_parametric`` / ``cvar_95_daily_parametric``: one-day 95 % value at risk and expected
  shortfall of a normal distribution fitted to the daily returns (returns, so negative numbers);
- against a benchmark: ``excess_annual_return`` (difference of annual returns), ``information_ratio``
  (QuantStats' daily mean/std of the return difference, x sqrt(252) to annualise it) and ``beta``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252
QUANTSTATS_VERSION = "0.0.86"  # keep equal to the pin in pyproject.toml


def _quantstats():
    """QuantStats, imported on first use (it imports matplotlib and seaborn: seconds at start-up)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats

    if quantstats.__version__ != QUANTSTATS_VERSION:
        raise RuntimeError(
            f"quantstats {quantstats.__version__} is installed but metrics are defined for "
            f"{QUANTSTATS_VERSION}: reinstall with `make install`"
        )
    return quantstats


def _date_or_none(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return str(pd.Timestamp(value).date())


def drawdown_period(returns: pd.Series) -> dict[str, str | None]:
    """Start, valley and end dates of the deepest drawdown (QuantStats' drawdown_details)."""
    qs = _quantstats()
    details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(returns))
    if details is None or len(details) == 0:
        return {"start": None, "valley": None, "end": None}
    worst = details.sort_values("max drawdown", kind="stable").iloc[0]
    recovered = _date_or_none(worst["end"])
    if recovered is not None and recovered == str(returns.index[-1].date()) and returns.iloc[-1] < 0:
        recovered = None  # the window closes on the last day while still under water: not recovered
    return {
        "start": _date_or_none(worst["start"]),
        "valley": _date_or_none(worst["valley"]),
        "end": recovered,
    }


def performance_metrics(returns: pd.Series) -> dict[str, object]:
    """The metrics above for one daily return series (index dates)."""
    qs = _quantstats()
    returns = returns.astype(float)
    stats = qs.stats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics: dict[str, object] = {
            "total_return": float(stats.comp(returns)),
            "annual_return": float(stats.cagr(returns, periods=PERIODS_PER_YEAR)),
            "volatility": float(stats.volatility(returns, periods=PERIODS_PER_YEAR)),
            "sharpe": float(stats.sharpe(returns, rf=0.0, periods=PERIODS_PER_YEAR)),
            "sortino": float(stats.sortino(returns, rf=0.0, periods=PERIODS_PER_YEAR)),
            "max_drawdown": float(stats.max_drawdown(returns)),
            "calmar": float(stats.calmar(returns, periods=PERIODS_PER_YEAR)),
            "hit_rate": float(stats.win_rate(returns)),
            "var_95_daily_parametric": float(stats.value_at_risk(returns, confidence=0.95)),
            "cvar_95_daily_parametric": float(stats.cvar(returns, confidence=0.95, method="parametric")),
            "days": int(returns.count()),
        }
    metrics["max_drawdown_dates"] = drawdown_period(returns)
    return metrics


def relative_metrics(returns: pd.Series, benchmark: pd.Series) -> dict[str, float]:
    """Excess annual return, annualised information ratio and beta of ``returns`` against ``benchmark``
    on the days both have."""
    qs = _quantstats()
    both = pd.concat([returns.rename("r"), benchmark.rename("b")], axis=1, join="inner").dropna()
    r, b = both["r"], both["b"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "excess_annual_return": float(
                qs.stats.cagr(r, periods=PERIODS_PER_YEAR) - qs.stats.cagr(b, periods=PERIODS_PER_YEAR)
            ),
            "information_ratio": float(qs.stats.information_ratio(r, b)) * math.sqrt(PERIODS_PER_YEAR),
            "beta": float(qs.stats.greeks(r, b, periods=PERIODS_PER_YEAR)["beta"]),
        }


def tear_sheet_html(returns: pd.Series, benchmark: pd.Series | None, title: str, path: str) -> str:
    """QuantStats' HTML tear sheet written to ``path`` (returned)."""
    qs = _quantstats()
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # QuantStats asks for Arial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qs.reports.html(returns, benchmark=benchmark, title=title, output=path, periods_per_year=252)
    return path


def information_coefficient(
    predictions: pd.DataFrame, *, overlap_lags: int, min_names: int = 3
) -> dict[str, float]:
    """IC (Pearson) and rank IC (Spearman) per decision date, their means and t-statistics.

    ``predictions``: ``date, symbol, predicted, realised`` (realised: the label the forecast aimed at).
    Labels of nearby decision dates overlap when the horizon is longer than the rebalance step, so the
    per-date ICs are serially correlated: the t-statistic uses a Newey-West (HAC) standard error with
    ``overlap_lags`` lags (statsmodels), which is the plain t-test when ``overlap_lags`` is 0.
    """
    import statsmodels.api as sm

    rows = []
    for date, group in predictions.dropna(subset=["predicted", "realised"]).groupby("date", sort=True):
        if len(group) < min_names or group["predicted"].nunique() < 2 or group["realised"].nunique() < 2:
            continue
        rows.append(
            (
                date,
                group["predicted"].corr(group["realised"]),
                group["predicted"].corr(group["realised"], method="spearman"),
            )
        )
    result: dict[str, float] = {"dates": float(len(rows)), "overlap_lags": float(overlap_lags)}
    frame = pd.DataFrame(rows, columns=["date", "ic", "rank_ic"])
    for name in ("ic", "rank_ic"):
        values = frame[name].dropna().to_numpy()
        result[f"{name}_mean"] = float(values.mean()) if len(values) else float("nan")
        if len(values) < 3 or np.std(values) == 0:
            result[f"{name}_tstat"] = float("nan")
            continue
        fit = sm.OLS(values, np.ones(len(values))).fit(
            cov_type="HAC" if overlap_lags > 0 else "nonrobust",
            cov_kwds={"maxlags": overlap_lags} if overlap_lags > 0 else None,
        )
        result[f"{name}_tstat"] = float(fit.tvalues[0])
    return result
