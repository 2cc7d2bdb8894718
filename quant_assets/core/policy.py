"""The portfolio policy: forecasts at a close -> target weights. One implementation, two callers.

The live ``portfolio_weights`` asset and the backtest's replay both call :func:`forecast_rows` and
:func:`target_weights`, so the replay measures exactly the policy that trades. Beside it, two simple
policies the backtest runs on the same days, so users see whether the optimiser adds anything:
``topk_dropout_weights`` (Qlib's TopkDropout: hold the k best-ranked names, swap at most ``n_drop`` a
rebalance, equal weight) and ``equal_weights`` (every tradable name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from quant_assets.core.portfolio import PortfolioResult, optimise_weights

# A symbol whose newest bar is this much older than the decision date is not forecast from stale data.
STALE_AFTER_DAYS = 7


@dataclass(frozen=True)
class PolicyConfig:
    max_weight: float = 0.10  # per-name cap
    min_history: int = 120  # days of closes a name needs in the covariance window
    lookback: int = 252  # covariance window, rows of daily closes

    def __post_init__(self) -> None:
        if not 0 < self.max_weight <= 1:
            raise ValueError(f"max_weight must be in (0, 1], got {self.max_weight}")


def forecast_rows(features: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each symbol's newest feature row dated at or before ``as_of`` (default: the newest date), with
    ``stale`` set where that row is more than ``STALE_AFTER_DAYS`` calendar days older than ``as_of``."""
    if as_of is not None:
        features = features[features["date"] <= as_of]
    latest = features.sort_values("date", kind="stable").groupby("symbol", sort=True).tail(1)
    latest = latest.sort_values("symbol", kind="stable").reset_index(drop=True)
    newest = latest["date"].max() if as_of is None else pd.Timestamp(as_of)
    return latest.assign(stale=(newest - latest["date"]).dt.days > STALE_AFTER_DAYS)


def target_weights(
    forecasts: pd.Series,
    closes: pd.DataFrame,
    *,
    horizon_days: int,
    config: PolicyConfig,
    holdings: pd.Series | None = None,
) -> PortfolioResult:
    """Long-only, capped weights from fresh forecasts: max Sharpe, or min volatility when no capped
    portfolio has a positive expected return (see ``core.portfolio.optimise_weights``).

    ``forecasts``: expected simple return over ``horizon_days`` per symbol (stale ones already left out);
    ``closes``: daily closes up to the decision date. ``holdings`` (current weights) do not move this
    policy's targets: trading costs are kept in check downstream, by the orders' no-trade band.
    """
    del holdings  # part of every policy's signature; this one decides from forecasts and risk alone
    return optimise_weights(
        forecasts,
        closes,
        horizon_days=horizon_days,
        max_weight=config.max_weight,
        min_history=config.min_history,
        lookback=config.lookback,
    )


def topk_dropout_weights(forecasts: pd.Series, holdings: pd.Index, *, k: int, n_drop: int) -> pd.Series:
    """Qlib's TopkDropout: keep k names; each rebalance sell the ``n_drop`` held names ranked worst
    among held + best new candidates, buy the best-ranked names not held; equal weights.

    Held names without a forecast today are sold (they cannot be ranked). Ties break by symbol.
    """
    if k < 1 or n_drop < 0:
        raise ValueError(f"need k >= 1 and n_drop >= 0, got k={k}, n_drop={n_drop}")
    scores = forecasts.dropna()
    ranked = scores.sort_index().sort_values(ascending=False, kind="stable")
    held = [s for s in ranked.index if s in set(holdings)]
    candidates = [s for s in ranked.index if s not in set(held)]
    today = candidates[: max(n_drop + k - len(held), 0)]
    combined = [s for s in ranked.index if s in set(held) | set(today)]
    worst = set(combined[-n_drop:]) if n_drop else set()
    sell = [s for s in held if s in worst]
    buy = today[: len(sell) + k - len(held)]
    chosen = sorted([s for s in held if s not in set(sell)] + buy, key=str)
    if not chosen:
        return pd.Series(dtype=float, name="weight")
    return pd.Series(1.0 / len(chosen), index=pd.Index(chosen, name="symbol"), name="weight")


def equal_weights(symbols: list[str]) -> pd.Series:
    """1/n on every given symbol (the equal-weight universe benchmark)."""
    if not symbols:
        return pd.Series(dtype=float, name="weight")
    ordered = sorted(set(symbols), key=str)
    return pd.Series(1.0 / len(ordered), index=pd.Index(ordered, name="symbol"), name="weight")


def default_topk(max_weight: float) -> int:
    """k for TopkDropout under the same per-name cap as the optimiser: 1/k <= max_weight."""
    return max(1, math.ceil(1 / max_weight - 1e-9))
