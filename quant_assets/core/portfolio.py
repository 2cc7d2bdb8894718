"""Portfolio weights from forecasts: long-only, per-name cap, PyPortfolioOpt under the hood.

Units: forecasts are simple returns over ``horizon_days`` trading days, annualised by compounding
(``(1 + r) ** (252 / h) - 1``). Risk is the Ledoit-Wolf shrunk covariance of daily simple returns over
the last ``lookback`` rows that all kept names share, annualised (x252). Reported return, volatility and
Sharpe (risk-free 0) are annual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, risk_models
from pypfopt.exceptions import OptimizationError

TRADING_DAYS_PER_YEAR = 252
CLEAN_CUTOFF = 1e-4
FALLBACK_SOLVER = "CLARABEL"


@dataclass(frozen=True)
class PortfolioResult:
    """Optimised weights (index symbol, >= 0, sum 1) and their annualised performance."""

    weights: pd.Series
    method: str  # "max_sharpe" or "min_volatility"
    expected_annual_return: float
    annual_volatility: float
    sharpe_ratio: float  # risk-free rate 0
    excluded: dict[str, str] = field(default_factory=dict)  # symbol -> why it was left out


def annualise(horizon_return: pd.Series, horizon_days: int) -> pd.Series:
    """Compound a simple return over ``horizon_days`` trading days to an annual simple return."""
    return (1 + horizon_return) ** (TRADING_DAYS_PER_YEAR / horizon_days) - 1


def renormalise_within_cap(weights: pd.Series, cap: float, tol: float = 1e-12) -> pd.Series:
    """Rescale to sum 1 without pushing any name over ``cap``: names at the cap stay, the rest scale."""
    weights = weights.clip(upper=cap)
    for _ in range(len(weights) + 1):
        capped = weights >= cap - tol
        free_sum = weights[~capped].sum()
        if free_sum <= 0 or abs(weights.sum() - 1) < tol:
            break
        weights = weights.where(capped, weights * (1 - weights[capped].sum()) / free_sum).clip(upper=cap)
    return weights


def best_capped_return(mu: pd.Series, cap: float) -> float:
    """Highest expected return any long-only portfolio with per-name ``cap`` can have (fill best first)."""
    ordered = mu.sort_values(ascending=False).to_numpy()
    room = np.clip(1 - cap * np.arange(len(ordered)), 0, cap)
    return float(ordered @ room)


def _usable_symbols(
    expected_returns: pd.Series, closes: pd.DataFrame, min_history: int, lookback: int
) -> tuple[list[str], dict[str, str]]:
    recent = closes.tail(lookback)
    kept, excluded = [], {}
    for symbol in sorted(set(expected_returns.index) | set(closes.columns), key=str):
        prediction = float(expected_returns.get(symbol, np.nan))
        history = int(recent[symbol].notna().sum()) if symbol in recent.columns else 0
        if not np.isfinite(prediction):
            excluded[symbol] = "no prediction"
        elif prediction <= -1:
            excluded[symbol] = f"prediction {prediction:.2%} is not a simple return above -100%"
        elif history == 0:
            excluded[symbol] = f"no closes in the last {lookback} rows"
        elif history < min_history:
            excluded[symbol] = f"only {history} days of history (< {min_history})"
        else:
            kept.append(symbol)
    return kept, excluded


def optimise_weights(
    expected_returns: pd.Series,
    closes: pd.DataFrame,
    *,
    horizon_days: int,
    max_weight: float,
    min_history: int = 120,
    lookback: int = 252,
) -> PortfolioResult:
    """Long-only weights capped at ``max_weight`` per name.

    ``expected_returns``: simple return per symbol over the next ``horizon_days`` trading days.
    ``closes``: daily closes, index date ascending, one column per symbol, NaN where there is no bar.
    Max Sharpe (risk-free 0) when some capped portfolio has a positive expected return, otherwise
    minimum volatility (max Sharpe would be infeasible there).
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be a positive number of trading days, got {horizon_days}")
    if expected_returns.index.has_duplicates:
        dupes = sorted(set(expected_returns.index[expected_returns.index.duplicated()]), key=str)
        raise ValueError(f"expected_returns has more than one prediction for {dupes}")
    expected_returns = pd.to_numeric(expected_returns, errors="coerce")
    closes = closes.sort_index()
    kept, excluded = _usable_symbols(expected_returns, closes, min_history, lookback)
    if len(kept) < 2:
        reasons = "; ".join(f"{s}: {r}" for s, r in excluded.items()) or "no symbols given"
        raise ValueError(
            f"need at least 2 usable symbols for a portfolio, got {len(kept)} {kept}; excluded: {reasons}"
        )
    if max_weight * len(kept) < 1 - 1e-9:
        raise ValueError(
            f"per-name cap {max_weight:.2%} is infeasible with {len(kept)} usable symbols (weights cannot "
            f"sum to 1): raise max_weight to at least {1 / len(kept):.2%} or make more symbols usable"
        )
    cap = min(float(max_weight), 1.0)
    # Covariance on the window every kept name shares: zero-filled returns before a young name's first
    # bar would make it look far less risky than it is.
    prices = closes[kept].tail(lookback).ffill().dropna()
    covariance = risk_models.CovarianceShrinkage(prices, frequency=TRADING_DAYS_PER_YEAR).ledoit_wolf()
    mu = annualise(expected_returns[kept], horizon_days)
    frontier = EfficientFrontier(mu, covariance, weight_bounds=(0, cap))
    if best_capped_return(mu, cap) > 0:
        method = "max_sharpe"
        try:
            frontier.max_sharpe(risk_free_rate=0.0)
        except OptimizationError:
            # OSQP (cvxpy's default here) can stop at its iteration limit when expected returns are tiny
            # (real data: 2016-09-02, four names); the interior-point solver finishes the same problem.
            frontier = EfficientFrontier(mu, covariance, weight_bounds=(0, cap), solver=FALLBACK_SOLVER)
            frontier.max_sharpe(risk_free_rate=0.0)
    else:
        method = "min_volatility"
        frontier.min_volatility()
    cleaned = pd.Series(frontier.clean_weights(cutoff=CLEAN_CUTOFF), dtype=float).clip(lower=0)
    weights = renormalise_within_cap(cleaned[cleaned > 0], cap).sort_values(ascending=False, kind="stable")
    frontier.set_weights(weights.reindex(kept, fill_value=0.0).to_dict())  # report the weights we return
    ret, vol, sharpe = frontier.portfolio_performance(risk_free_rate=0.0)
    weights = weights.rename("weight").rename_axis("symbol")
    return PortfolioResult(weights, method, float(ret), float(vol), float(sharpe), excluded)


def weights_table(result: PortfolioResult, top: int = 10) -> str:
    """Markdown table (symbol | weight in %) of the ``top`` largest weights, for asset metadata."""
    largest = result.weights.sort_values(ascending=False, kind="stable").head(top)
    rows = [f"| {symbol} | {weight:.2%} |" for symbol, weight in largest.items()]
    if len(result.weights) > top:
        rest = result.weights.drop(largest.index)
        rows.append(f"| ({len(rest)} more) | {rest.sum():.2%} |")
    return "\n".join(["| symbol | weight |", "| --- | ---: |", *rows])
