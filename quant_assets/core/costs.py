"""What a trade costs: commission, slippage and square-root market impact, in one model.

The backtest and the paper broker both fill through this model, so a paper fill costs exactly what
the replay said it would. Definitions (all fractions of the order's notional unless said otherwise):

- **commission**: ``commission_bps / 1e4 * notional``, at least ``min_commission`` dollars an order;
- **slippage**: the fill price moves against the order by ``slippage_bps / 1e4`` of the reference price
  (buys pay more, sells get less);
- **market impact** (optional, ``impact_coefficient > 0``): the square-root law,
  ``impact = coefficient * daily_volatility * sqrt(notional / average_dollar_volume)``, also added to the
  price against the order (Almgren et al. 2005, "Direct estimation of equity market impact"; Tóth et al.
  2011). Volatility is the std of daily returns and dollar volume a trailing mean, both known at the
  decision date. The coefficient is usually taken near 1 (0.5 to 1.5 in the studies).

Impact depends on the order's own size; where an order is cut down for lack of cash, the impact of the
size first asked for is kept (a small overestimate of cost, never an underestimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BPS = 1e-4


@dataclass(frozen=True)
class CostModel:
    commission_bps: float = 1.0
    min_commission: float = 0.0  # dollars per order with a non-zero size
    slippage_bps: float = 5.0
    impact_coefficient: float = 0.0  # 0 turns market impact off

    def __post_init__(self) -> None:
        for name in ("commission_bps", "min_commission", "slippage_bps", "impact_coefficient"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"CostModel.{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def free(cls) -> CostModel:
        """No costs at all: the gross run."""
        return cls(commission_bps=0.0, min_commission=0.0, slippage_bps=0.0, impact_coefficient=0.0)

    @property
    def is_free(self) -> bool:
        return self == CostModel.free()

    def scaled(self, factor: float) -> CostModel:
        """Every cost multiplied by ``factor`` (a sensitivity run: what if costs were twice as high?)."""
        return CostModel(
            self.commission_bps * factor,
            self.min_commission * factor,
            self.slippage_bps * factor,
            self.impact_coefficient * factor,
        )

    def price_shift(
        self,
        notional: np.ndarray,
        average_dollar_volume: np.ndarray | None = None,
        daily_volatility: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fraction the fill price moves against each order: slippage plus impact (>= 0)."""
        notional = np.abs(np.asarray(notional, dtype=float))
        shift = np.full(notional.shape, self.slippage_bps * BPS)
        if self.impact_coefficient > 0 and average_dollar_volume is not None and daily_volatility is not None:
            adv = np.asarray(average_dollar_volume, dtype=float)
            vol = np.asarray(daily_volatility, dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                impact = self.impact_coefficient * vol * np.sqrt(notional / adv)
            # No volume history (a new name): no estimate, so no impact rather than an invented one.
            shift = shift + np.where(np.isfinite(impact), impact, 0.0)
        return shift

    def commission(self, executed_notional: np.ndarray) -> np.ndarray:
        """Dollars charged per order: the bps rate, at least the minimum, nothing for an empty order."""
        executed = np.abs(np.asarray(executed_notional, dtype=float))
        fee = np.maximum(executed * self.commission_bps * BPS, self.min_commission)
        return np.where(executed > 0, fee, 0.0)

    def affordable_notional(self, cash: float) -> float:
        """Largest executed notional a buy can have when ``cash`` must cover it and its commission."""
        if cash <= 0:
            return 0.0
        rate = self.commission_bps * BPS
        proportional = cash / (1 + rate)
        if proportional * rate >= self.min_commission:
            return proportional
        return max(cash - self.min_commission, 0.0)
