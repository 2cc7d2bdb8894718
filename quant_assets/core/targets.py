"""The trading cycle's targets for one day: the policy's weights after the rules, judged by the limits.

Pure: the ``trading_targets`` asset and ``quant trade --dry-run`` both call :func:`plan_targets`, so a
dry run shows exactly what the cycle would decide. Rules applied to the policy's weights:

- the drawdown stop, the stop-loss with its cooldown, and the never-trade list (``core.stops``, the
  rules the backtest replays): stopped and barred names get weight 0 (held ones are sold);
- symbols whose newest print is unconfirmed (``core.outliers.unconfirmed_moves``) are *frozen*: they
  keep what they hold, no order either way, until the next bar confirms or removes the print.
Then every risk limit is measured (``core.limit_checks``); a breach blocks the day's orders.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from quant_assets.core.limit_checks import evaluate_limits
from quant_assets.core.limits import RiskLimits
from quant_assets.core.orders import portfolio_version
from quant_assets.core.outliers import unconfirmed_moves
from quant_assets.core.stops import Holding, apply_limits


def current_weights(positions: dict[str, float], closes: pd.DataFrame, equity: float) -> pd.Series:
    """The book's weights at the newest closes (a name without a close today: its last one)."""
    last = closes.ffill().iloc[-1]
    return pd.Series({s: n * last[s] / equity for s, n in positions.items()}, dtype=float)


def plan_targets(
    weights: pd.Series,
    bars: pd.DataFrame,
    positions: dict[str, float],
    equity: pd.Series,
    limits: RiskLimits,
    *,
    holdings: Mapping[str, Holding] | None = None,
    stopped_out: Mapping[str, pd.Timestamp] | None = None,
) -> dict:
    """Targets, frozen names, rule events and limit results for the decision date (the newest bar).

    ``equity``: the account's equity at each marked close, the decision date's included (the drawdown
    stop reads its whole history); ``holdings``: held names with their entry (the stop-loss);
    ``stopped_out``: each name's latest stop-loss exit before today (the cooldown)."""
    closes = bars.pivot(index="date", columns="symbol", values="close").sort_index()
    as_of = closes.index.max()
    limited = apply_limits(
        weights.astype(float), as_of, limits, equity=equity, closes=closes,
        holdings=holdings or {}, stopped_out=stopped_out or {},
    )  # fmt: skip
    targets = limited.weights
    unconfirmed = unconfirmed_moves(bars)
    unconfirmed = unconfirmed[pd.to_datetime(unconfirmed["date"]) == as_of]  # the newest bars only
    frozen = dict(zip(unconfirmed["symbol"], unconfirmed["reason"], strict=True))
    today = float(equity.iloc[-1])
    current = current_weights(positions, closes, today) if today > 0 else pd.Series(dtype=float)
    results = evaluate_limits(
        targets, limits, current_weights=current, closes=closes, stopped=limited.drawdown.active
    )
    state = limited.drawdown
    return {
        "as_of": as_of.date().isoformat(),
        "version": portfolio_version(as_of, targets),
        "targets": {s: float(w) for s, w in targets.items() if w > 0},
        "policy_weights": {s: float(w) for s, w in weights.items() if w > 0},
        "current_weights": {s: float(w) for s, w in current.items()},
        "frozen": frozen,
        "events": [
            {"date": e.date.date().isoformat(), "symbol": e.symbol, "rule": e.rule, "reason": e.reason}
            for e in limited.events
        ],
        "drawdown_stop": {"active": state.active, "drawdown": state.drawdown, "peak": state.peak,
                          "since": None if state.since is None else state.since.date().isoformat(),
                          "days_left": state.days_left, "scale": state.scale},  # fmt: skip
        "barred": {s: b.reason for s, b in limited.barred.items()},
        "limits": {name: result.as_dict() for name, result in results.items()},
    }
