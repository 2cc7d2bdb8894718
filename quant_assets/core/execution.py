"""How a batch of orders fills against cash: the one execution rule of the backtest and the paper broker.

Given signed share orders at reference prices (the fill day's opens), in the order a broker would see
them: sells first, then buys from the smallest to the largest order; each fill moves against the order
by the cost model's slippage and impact and pays its commission (``core.costs``). There is no leverage:
a buy that cash cannot cover is cut to what it can (whole shares when asked), and later buys get what is
left. The simulator (``core.simulator``) and the paper broker (``brokers.paper``) both call
:func:`execute_orders`, so a paper fill costs exactly what the replay said it would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_assets.core.costs import CostModel


@dataclass(frozen=True)
class Execution:
    """Per order (same positions as the input): what filled, at what price, for what commission."""

    filled: np.ndarray  # signed shares filled (0: nothing; a buy may be cut below what was asked)
    fill_price: np.ndarray  # price paid or received per share, costs of slippage and impact included
    commission: np.ndarray  # dollars per order
    slippage_cost: np.ndarray  # dollars lost to slippage and impact against the reference price
    cash: float  # cash after every fill

    @property
    def cost(self) -> np.ndarray:
        """Total dollars each order cost: commission plus slippage and impact."""
        return self.commission + self.slippage_cost


def execute_orders(
    delta: np.ndarray,
    reference: np.ndarray,
    cash: float,
    costs: CostModel,
    *,
    whole_shares: bool = False,
    average_dollar_volume: np.ndarray | None = None,
    daily_volatility: np.ndarray | None = None,
) -> Execution:
    """Fill signed share orders ``delta`` at ``reference`` prices out of ``cash`` (see module docstring).

    ``average_dollar_volume`` and ``daily_volatility`` (per order, known at the decision) feed the impact
    term; without them only slippage moves the price."""
    delta = np.asarray(delta, dtype=float).copy()
    delta[~np.isfinite(delta)] = 0.0
    reference = np.where(np.isfinite(reference), np.asarray(reference, dtype=float), 0.0)
    sell = np.flatnonzero(delta < 0)
    buy = np.flatnonzero(delta > 0)
    buy = buy[np.argsort(delta[buy] * reference[buy], kind="stable")]  # smallest order first
    filled = np.zeros_like(delta)
    fill_price = np.zeros_like(delta)
    commission = np.zeros_like(delta)
    shift = costs.price_shift(np.abs(delta) * reference, average_dollar_volume, daily_volatility)

    if len(sell):
        fill_price[sell] = reference[sell] * (1 - shift[sell])
        filled[sell] = delta[sell]
        commission[sell] = costs.commission(-delta[sell] * fill_price[sell])
        cash += float(np.sum(-delta[sell] * fill_price[sell]) - np.sum(commission[sell]))
    if len(buy):
        fill_price[buy] = reference[buy] * (1 + shift[buy])
        notional = delta[buy] * fill_price[buy]
        fees = costs.commission(notional)
        need = np.cumsum(notional + fees)
        fits = int(np.searchsorted(need, cash, side="right"))  # the first `fits` buys are fully covered
        filled[buy[:fits]] = delta[buy[:fits]]
        commission[buy[:fits]] = fees[:fits]
        cash -= float(need[fits - 1]) if fits else 0.0
        for j in buy[fits:]:  # cash binds from here: cut each order to what is left
            size = costs.affordable_notional(cash) / fill_price[j]
            size = min(np.floor(size + 1e-9) if whole_shares else size, delta[j])
            if size <= 0:
                continue
            filled[j] = size
            commission[j] = float(costs.commission(np.array([size * fill_price[j]]))[0])
            cash -= size * fill_price[j] + commission[j]
        cash = max(cash, 0.0) if cash > -1e-6 else cash  # float dust from the cut, never real debt
    slippage_cost = np.abs(filled) * np.abs(fill_price - reference)
    return Execution(filled, fill_price, commission, slippage_cost, float(cash))
