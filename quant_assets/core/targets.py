"""The trading cycle's targets for one day: the policy's weights after the rules, judged by the limits.

Pure: the ``trading_targets`` asset and ``quant trade --dry-run`` both call :func:`plan_targets`, so a
dry run shows exactly what the cycle would decide. Rules applied to the policy's weights:

- never-trade symbols get weight 0 (held ones are sold);
- the drawdown stop and the stop-loss (``core.stops``) when given their state;
- symbols whose newest print is unconfirmed (``core.outliers.unconfirmed_moves``) are *frozen*: they
  keep what they hold, no order either way, until the next bar confirms or removes the print.
Then every risk limit is measured (``core.limit_checks``); a breach blocks the day's orders.
"""

from __future__ import annotations

import pandas as pd

from quant_assets.core.limit_checks import evaluate_limits
from quant_assets.core.limits import RiskLimits
from quant_assets.core.orders import portfolio_version
from quant_assets.core.outliers import unconfirmed_moves


def current_weights(positions: dict[str, float], closes: pd.DataFrame, equity: float) -> pd.Series:
    """The book's weights at the newest closes (a name without a close today: its last one)."""
    last = closes.ffill().iloc[-1]
    return pd.Series({s: n * last[s] / equity for s, n in positions.items()}, dtype=float)


def plan_targets(
    weights: pd.Series,
    bars: pd.DataFrame,
    positions: dict[str, float],
    equity: float,
    limits: RiskLimits,
    as_of: pd.Timestamp | None = None,
) -> dict:
    """Targets, frozen names, rule events and limit results for the decision date (the newest bar)."""
    closes = bars.pivot(index="date", columns="symbol", values="close").sort_index()
    as_of = pd.Timestamp(as_of) if as_of is not None else closes.index.max()
    weights = weights.astype(float)
    events = [
        {"date": as_of.date().isoformat(), "symbol": s, "rule": "never_trade",
         "reason": f"{s} is on the never-trade list: target {w:.2%} -> 0"}
        for s, w in weights.items() if s in limits.never_trade and w > 0
    ]  # fmt: skip
    targets = weights.where(~weights.index.isin(limits.never_trade), 0.0)
    unconfirmed = unconfirmed_moves(bars)
    unconfirmed = unconfirmed[pd.to_datetime(unconfirmed["date"]) == as_of]  # the newest bars only
    frozen = dict(zip(unconfirmed["symbol"], unconfirmed["reason"], strict=True))
    current = current_weights(positions, closes, equity) if equity > 0 else pd.Series(dtype=float)
    results = evaluate_limits(targets, limits, current_weights=current, closes=closes)
    return {
        "as_of": as_of.date().isoformat(),
        "version": portfolio_version(as_of, targets),
        "targets": {s: float(w) for s, w in targets.items() if w > 0},
        "policy_weights": {s: float(w) for s, w in weights.items() if w > 0},
        "current_weights": {s: float(w) for s, w in current.items()},
        "frozen": frozen,
        "events": events,
        "limits": {name: result.as_dict() for name, result in results.items()},
    }
