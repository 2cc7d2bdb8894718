"""A daily portfolio simulator: target weights decided at a close are traded at the next open.

Timing (the same contract as the labels, see ``core.labels``): a row of ``targets`` dated t holds
weights decided with everything known at t's close; they are traded at the **open of the next market
date**; positions are marked at every close. Nothing dated after t is read to trade t's targets.

Execution, in the order a broker would see it (and as vectorbt's ``from_orders`` with
``size_type="targetpercent"``, ``cash_sharing=True``, ``call_seq="auto"`` does it, so the benchmark can
compare the two):

1. the portfolio is valued at the trade date's opens (a name with no open there: its last close);
2. each target weight becomes a target number of shares at the open price (floored with
   ``whole_shares``); names that cannot trade that day (no open) keep what they hold;
3. the orders fill by ``core.execution.execute_orders`` (shared with the paper broker): sells first,
   then buys from the smallest to the largest order; fills move against the order by the cost model's
   slippage and impact, and pay its commission (see ``core.costs``);
4. there is no leverage and no short selling: a buy that cash cannot cover is cut to what it can, and
   later buys get what is left; cash earns nothing.

A held name with no bar for ``delist_after_days`` market days is taken to have stopped trading: it is
sold at its last close (with costs) and a warning says so. Counting missed days keeps this causal: a
short halt is waited out, and nothing needs to know that a name will never trade again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_assets.core.costs import CostModel
from quant_assets.core.execution import execute_orders

DELIST_AFTER_DAYS = 5


@dataclass(frozen=True)
class SimulationResult:
    """Daily state from the first decision date (equity = capital) to the last market date."""

    equity: pd.DataFrame  # index date: cash, positions (market value at close), equity, costs (cumulative $)
    positions: pd.DataFrame  # index date, one column per symbol: shares held after that day's trades
    trades: pd.DataFrame  # date, symbol, shares (signed), price (fill), notional (fill $), commission, cost
    weights: pd.DataFrame  # index trade date: post-trade weights at the opens the trades were valued at
    turnover: pd.Series  # index trade date: sum |traded notional at the open| / (2 * portfolio value)
    trade_values: pd.DataFrame  # index trade date: portfolio value at the opens before and after trading
    warnings: list[str] = field(default_factory=list)

    @property
    def returns(self) -> pd.Series:
        """Daily simple returns of equity (close to close; the first day from the starting capital)."""
        return self.equity["equity"].pct_change().iloc[1:].rename("returns")

    @property
    def total_costs(self) -> float:
        return float(self.trades["cost"].sum()) if len(self.trades) else 0.0


def _align(frame: pd.DataFrame, dates: pd.DatetimeIndex, symbols: list[str]) -> np.ndarray:
    return frame.reindex(index=dates, columns=symbols).to_numpy(dtype=float)


def _last_bar_index(closes: np.ndarray) -> np.ndarray:
    """For each (date, symbol): index of the latest date <= it with a bar (-1 before the first)."""
    index = np.where(np.isfinite(closes), np.arange(len(closes))[:, None], -1)
    return np.maximum.accumulate(index, axis=0)


def simulate(
    targets: pd.DataFrame,
    opens: pd.DataFrame,
    closes: pd.DataFrame,
    *,
    costs: CostModel,
    capital: float = 1_000_000.0,
    whole_shares: bool = False,
    average_dollar_volume: pd.DataFrame | None = None,
    daily_volatility: pd.DataFrame | None = None,
    delist_after_days: int = DELIST_AFTER_DAYS,
) -> SimulationResult:
    """Trade ``targets`` (index decision date, columns symbols, weights >= 0 summing to <= 1) through
    ``opens``/``closes`` (index market date, columns symbols, NaN where no bar).

    ``average_dollar_volume`` and ``daily_volatility`` (same shape as the prices, each value known at
    its date's close) feed the impact term; they are read at the decision date, never the trade date.
    """
    if capital <= 0:
        raise ValueError(f"capital must be positive, got {capital}")
    weights_in = targets.fillna(0.0)
    if (weights_in.to_numpy() < -1e-12).any():
        raise ValueError("targets hold a negative weight: the simulator is long-only")
    overweight = weights_in.sum(axis=1) > 1 + 1e-9
    if overweight.any():
        raise ValueError(f"targets sum above 1 (leverage) on {list(weights_in.index[overweight].date)[:5]}")
    dates = pd.DatetimeIndex(closes.index).sort_values()
    symbols = sorted(set(closes.columns) | set(weights_in.columns), key=str)
    unknown = sorted(set(weights_in.columns) - set(closes.columns), key=str)
    if unknown and (weights_in[unknown] > 0).any().any():
        raise ValueError(f"targets name symbols with no prices: {unknown[:10]}")
    close = _align(closes, dates, symbols)
    open_ = _align(opens, dates, symbols)
    last_close = pd.DataFrame(close).ffill().to_numpy()
    last_bar = _last_bar_index(close)
    adv = None if average_dollar_volume is None else _align(average_dollar_volume, dates, symbols)
    vol = None if daily_volatility is None else _align(daily_volatility, dates, symbols)
    target_matrix = _align(weights_in, pd.DatetimeIndex(weights_in.index), symbols)
    target_matrix = np.nan_to_num(target_matrix, nan=0.0)

    decision_index = dates.get_indexer(pd.DatetimeIndex(weights_in.index))
    if (decision_index < 0).any():
        missing = pd.DatetimeIndex(weights_in.index)[decision_index < 0]
        raise ValueError(f"targets dated on days with no market data: {list(missing.date)[:5]}")
    order = np.argsort(decision_index, kind="stable")
    decision_index, target_matrix = decision_index[order], target_matrix[order]
    start = int(decision_index[0]) if len(decision_index) else 0

    n_dates, n_symbols = close.shape
    shares = np.zeros(n_symbols)
    cash = float(capital)
    cumulative_cost = 0.0
    held = np.full((n_dates, n_symbols), np.nan)
    held[start] = 0.0
    equity_rows = np.full((n_dates, 4), np.nan)  # cash, positions, equity, cumulative cost
    trade_parts: list[dict[str, np.ndarray]] = []
    weight_rows, turnover_rows, value_rows, trade_dates, warnings = [], [], [], [], []
    next_target = 0
    symbol_array = np.asarray(symbols, dtype=object)

    for i in range(start, n_dates):
        # The targets decided at the last decision date before i trade now (several: the latest wins).
        pending = None
        while next_target < len(decision_index) and decision_index[next_target] < i:
            pending = target_matrix[next_target]
            next_target += 1
        if pending is not None:
            cash, cost, parts, post_weights, turnover, values = _trade(
                i, pending, shares, cash, open_[i], last_close[i - 1], last_bar[i], costs, whole_shares,
                None if adv is None else adv[decision_index[next_target - 1]],
                None if vol is None else vol[decision_index[next_target - 1]],
                delist_after_days, symbol_array, dates[i], warnings,
            )  # fmt: skip
            cumulative_cost += cost
            trade_parts.append(parts)
            weight_rows.append(post_weights)
            turnover_rows.append(turnover)
            value_rows.append(values)
            trade_dates.append(dates[i])
            held[i] = shares
        value = float(np.nansum(shares * last_close[i])) if shares.any() else 0.0
        equity_rows[i] = (cash, value, cash + value, cumulative_cost)

    index = dates[start:]
    equity = pd.DataFrame(equity_rows[start:], index=index, columns=["cash", "positions", "equity", "costs"])
    positions = pd.DataFrame(held[start:], index=index, columns=symbols).ffill()
    trades = _trade_frame(trade_parts)
    trade_index = pd.DatetimeIndex(trade_dates, name="date")
    weights = pd.DataFrame(np.array(weight_rows).reshape(len(trade_dates), n_symbols), trade_index, symbols)
    turnover = pd.Series(turnover_rows, index=trade_index, name="turnover", dtype=float)
    values = pd.DataFrame(value_rows, index=trade_index, columns=["before", "after"], dtype=float)
    return SimulationResult(equity.rename_axis("date"), positions.rename_axis("date"), trades, weights,
                            turnover, values, warnings)  # fmt: skip


def _trade(
    i: int,
    target: np.ndarray,
    shares: np.ndarray,
    cash: float,
    open_today: np.ndarray,
    last_close: np.ndarray,
    last_bar: np.ndarray,
    costs: CostModel,
    whole_shares: bool,
    adv: np.ndarray | None,
    vol: np.ndarray | None,
    delist_after_days: int,
    symbols: np.ndarray,
    date: pd.Timestamp,
    warnings: list[str],
) -> tuple[float, float, dict[str, np.ndarray], np.ndarray, float, tuple[float, float]]:
    """One rebalance at date index ``i``; updates ``shares`` in place and returns the new cash etc."""
    tradable = np.isfinite(open_today) & (open_today > 0)
    price = np.where(tradable, open_today, last_close)
    gone = (shares != 0) & ~tradable & (i - last_bar >= delist_after_days)
    for j in np.flatnonzero(gone):
        warnings.append(
            f"{symbols[j]}: no bar for {i - last_bar[j]} market days by {date.date()}; "
            f"sold {shares[j]:g} shares at its last close {last_close[j]:.4f}"
        )
    value = cash + float(np.nansum(shares * np.where(shares != 0, price, 0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        wanted = np.where(tradable, target * value / price, shares)
    if whole_shares:
        wanted = np.where(tradable, np.floor(wanted + 1e-9), wanted)
    wanted = np.where(gone, 0.0, wanted)
    delta = wanted - shares
    delta[~np.isfinite(delta)] = 0.0
    reference = np.where(np.isfinite(price), price, 0.0)
    fills = execute_orders(
        delta, reference, cash, costs, whole_shares=whole_shares,
        average_dollar_volume=adv, daily_volatility=vol,
    )  # fmt: skip
    filled, fill_price, commission, slippage_cost, cash = (
        fills.filled, fills.fill_price, fills.commission, fills.slippage_cost, fills.cash
    )  # fmt: skip

    traded = np.flatnonzero(filled != 0)
    shares += filled
    shares[np.abs(shares) < 1e-12] = 0.0
    cost = float(np.sum(commission[traded]) + np.sum(slippage_cost[traded]))
    parts = {
        "date": np.full(len(traded), date),
        "symbol": symbols[traded],
        "shares": filled[traded],
        "price": fill_price[traded],
        "notional": filled[traded] * fill_price[traded],
        "commission": commission[traded],
        "cost": commission[traded] + slippage_cost[traded],
        "reason": np.where(gone[traded], "stopped trading", "rebalance"),
    }
    held_value = shares * np.where(shares != 0, price, 0.0)
    post_value = cash + float(np.nansum(held_value))
    post_weights = np.nan_to_num(held_value / post_value) if post_value > 0 else np.zeros_like(shares)
    turnover = float(np.sum(np.abs(filled) * reference) / (2 * value)) if value > 0 else 0.0
    return cash, cost, parts, post_weights, turnover, (value, post_value)


def _trade_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    columns = ["date", "symbol", "shares", "price", "notional", "commission", "cost", "reason"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}).astype(
            {"date": "datetime64[ns]", "symbol": object, "reason": object}
        )
    frame = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in columns})
    return frame.astype({"date": "datetime64[ns]"})
