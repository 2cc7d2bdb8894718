"""Judge target weights against the risk limits (``core.limits``): one result per limit, with reasons.

The same function judges the trading cycle's targets (each limit is a blocking asset check) and weights
posted to ``POST /api/portfolio/update`` (a 422 listing every breach). A breach names the figure, the
limit and the symbols at fault, so the alert and the HTTP answer say what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant_assets.core.limits import RiskLimits
from quant_assets.core.risk import simulated_returns, value_at_risk_table

LIMIT_NAMES = ("max_weight", "min_names", "max_var_95_1d", "max_turnover", "never_trade")
MIN_VAR_HISTORY = 60  # days of returns before a VaR estimate is trusted


@dataclass(frozen=True)
class LimitResult:
    limit: str  # one of LIMIT_NAMES
    passed: bool
    value: float | None  # the measured figure (None: could not be measured, see reason)
    threshold: float | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"limit": self.limit, "passed": self.passed, "value": self.value,
                "threshold": self.threshold, "reason": self.reason}  # fmt: skip


def _symbols(series: pd.Series) -> str:
    return ", ".join(f"{s} {w:.2%}" for s, w in series.sort_values(ascending=False).head(10).items())


def evaluate_limits(
    targets: pd.Series,
    limits: RiskLimits,
    *,
    current_weights: pd.Series | None = None,
    closes: pd.DataFrame | None = None,
    stopped: bool = False,
) -> dict[str, LimitResult]:
    """Every limit on ``targets`` (symbol -> weight of equity).

    ``current_weights`` (the book now) feed the turnover limit, ``closes`` (wide, index date) the VaR
    limit; without them those limits cannot be measured and pass with the reason said. ``stopped``: the
    drawdown stop has moved the book toward cash, so the minimum number of names does not apply."""
    targets = targets.astype(float).fillna(0.0)
    held = targets[targets > 1e-12]
    results: dict[str, LimitResult] = {}

    over = held[held > limits.max_weight + 1e-9]
    largest = float(held.max()) if len(held) else 0.0
    results["max_weight"] = LimitResult(
        "max_weight", over.empty, largest, limits.max_weight,
        "largest weight within the limit" if over.empty
        else f"{len(over)} name(s) above the limit {limits.max_weight:.2%}: {_symbols(over)}",
    )  # fmt: skip

    enough = len(held) >= limits.min_names or stopped
    results["min_names"] = LimitResult(
        "min_names", enough, float(len(held)), float(limits.min_names),
        (f"{len(held)} names held" + (" (drawdown stop active: minimum not applied)" if stopped else ""))
        if enough else f"only {len(held)} name(s) targeted, the limit asks for at least {limits.min_names}",
    )  # fmt: skip

    if closes is None or held.empty:
        results["max_var_95_1d"] = LimitResult(
            "max_var_95_1d", True, None, limits.max_var_95_1d,
            "not measured: " + ("nothing held" if held.empty else "no price history available"),
        )  # fmt: skip
    else:
        missing = sorted(set(held.index) - set(closes.columns))
        daily = simulated_returns(held.drop(missing), closes) if len(missing) < len(held) else pd.Series()
        if missing or len(daily) < MIN_VAR_HISTORY:
            why = f"no price history for {', '.join(missing)}" if missing else f"only {len(daily)} days"
            results["max_var_95_1d"] = LimitResult(
                "max_var_95_1d", False, None, limits.max_var_95_1d,
                f"VaR cannot be estimated ({why}; {MIN_VAR_HISTORY} days needed): not trading blind",
            )  # fmt: skip
        else:
            var = next(r["var"] for r in value_at_risk_table(daily, 1)
                       if (r["method"], r["confidence"], r["days"]) == ("historical", 0.95, 1))  # fmt: skip
            ok = var <= limits.max_var_95_1d
            results["max_var_95_1d"] = LimitResult(
                "max_var_95_1d", ok, float(var), limits.max_var_95_1d,
                f"historical 1-day VaR 95 % is {var:.2%}" + ("" if ok else
                f", above the limit {limits.max_var_95_1d:.2%} (largest: {_symbols(held)})"),
            )  # fmt: skip

    if current_weights is None:
        results["max_turnover"] = LimitResult(
            "max_turnover", True, None, limits.max_turnover, "not measured: the current book is unknown"
        )
    else:
        gap = targets.sub(current_weights.astype(float), fill_value=0.0).abs()
        turnover = float(gap.sum() / 2)
        ok = turnover <= limits.max_turnover + 1e-9
        results["max_turnover"] = LimitResult(
            "max_turnover", ok, turnover, limits.max_turnover,
            f"turnover {turnover:.2%} of equity" + ("" if ok else
            f", above the limit {limits.max_turnover:.2%} (largest moves: {_symbols(gap[gap > 0])})"),
        )  # fmt: skip

    banned = held[held.index.isin(limits.never_trade)]
    results["never_trade"] = LimitResult(
        "never_trade", banned.empty, float(len(banned)), 0.0,
        "no never-trade symbol targeted" if banned.empty
        else f"never-trade symbol(s) targeted: {_symbols(banned)}",
    )  # fmt: skip
    return results


def breaches(results: dict[str, LimitResult]) -> list[LimitResult]:
    return [r for r in results.values() if not r.passed]
