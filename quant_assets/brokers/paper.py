"""The platform's own paper account: a simulated broker that fills at the next open like the backtest.

Orders submitted for a decision date ``d`` wait until the first market date after ``d`` whose bars are
known, then fill at that day's open through ``core.execution.execute_orders`` with the backtest's cost
model (``core.costs``): the same code, so the paper account earns what the replay says it would.
A batch fills sells first, then buys from the smallest; a buy that cash cannot cover is cut and the rest
expires with the reason (no leverage); an order whose symbol has no open that day expires.

The paper broker keeps its own book (``Ledger`` tables prefixed ``paper_``): it plays the exchange, the
platform's ledger (prefix ``ledger_``) records what the broker reports, and reconciliation compares the
two, exactly as it does with Alpaca.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd

from quant_assets.brokers.base import Account, OrderRequest, OrderState
from quant_assets.brokers.ledger import Ledger
from quant_assets.core.costs import CostModel
from quant_assets.core.execution import execute_orders

DEFAULT_CAPITAL = 1_000_000.0


def _state(row: pd.Series) -> OrderState:
    price = row["average_fill_price"]
    return OrderState(
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        shares=int(row["shares"]),
        status=row["status"],
        filled_shares=float(row["filled_shares"]),
        average_fill_price=None if pd.isna(price) else float(price),
        broker_order_id=row["broker_order_id"],
        reason=row["reason"],
        submitted_at=row["created_at"],
        updated_at=row["updated_at"],
        commission=float(row["commission"]),
    )


def _at(frame: pd.DataFrame | None, date: pd.Timestamp, symbols: list[str]) -> np.ndarray | None:
    """One row of a wide frame (the decision date's liquidity or volatility), in ``symbols`` order."""
    if frame is None:
        return None
    return frame.reindex(index=[date], columns=symbols).to_numpy(dtype=float)[0]


class PaperBroker:
    """A simulated broker on a SQL book; ``as_of`` is the decision date new orders are submitted for."""

    name = "paper"

    def __init__(
        self,
        url: str,
        *,
        capital: float = DEFAULT_CAPITAL,
        costs: CostModel | None = None,
        as_of: dt.date | pd.Timestamp | None = None,
    ) -> None:
        self.book = Ledger(url, prefix="paper")
        self.costs = costs or CostModel()
        self.as_of = None if as_of is None else pd.Timestamp(as_of).normalize()
        if self.book.cash() == 0 and not self.book.positions() and not len(self.book.order_states()):
            if capital <= 0:
                raise ValueError(f"the paper account's starting capital must be positive, got {capital}")
            self.book.deposit(capital, "opening deposit of the paper account")

    # -- the Broker protocol ---------------------------------------------------------------------
    def submit(self, order: OrderRequest) -> OrderState:
        known = self.get_order(order.client_order_id)
        if known is not None:
            return known
        if self.as_of is None:
            raise ValueError("PaperBroker needs as_of (the decision date) to accept orders")
        self.book.record_order(order, self.as_of.date())
        reason = None
        if order.side == "sell":
            held = self.book.positions().get(order.symbol, 0.0)
            pending = self.book.order_states()
            pending = pending[(pending["symbol"] == order.symbol) & (pending["side"] == "sell")
                              & pending["status"].isin(["accepted", "new"])]  # fmt: skip
            free = held - float((pending["shares"] - pending["filled_shares"]).sum())
            if order.shares > free + 1e-9:
                reason = f"insufficient position: sell {order.shares} {order.symbol}, {free:g} available"
        self.book.record_state(OrderState(
            order.client_order_id, order.symbol, order.side, order.shares,
            status="rejected" if reason else "accepted", reason=reason,
            broker_order_id=f"paper-{uuid.uuid4()}", submitted_at=dt.datetime.now(dt.UTC),
        ))  # fmt: skip
        return self.get_order(order.client_order_id)

    def get_order(self, client_order_id: str) -> OrderState | None:
        states = self.book.order_states()
        row = states[states["client_order_id"] == client_order_id]
        return None if row.empty else _state(row.iloc[0])

    def cancel(self, client_order_id: str) -> OrderState:
        state = self.get_order(client_order_id)
        if state is None:
            raise KeyError(f"paper broker: no order {client_order_id}")
        if state.is_open:
            self.book.record_state(OrderState(
                state.client_order_id, state.symbol, state.side, state.shares, "canceled",
                state.filled_shares, state.average_fill_price, state.broker_order_id,
                "canceled on request", commission=state.commission,
            ))  # fmt: skip
        return self.get_order(client_order_id)

    def open_orders(self) -> list[OrderState]:
        states = self.book.order_states()
        return [_state(row) for _, row in states[states["status"].isin(["accepted", "new"])].iterrows()]

    def account(self) -> Account:
        cash, positions = self.book.cash(), self.book.positions()
        prices = self.book.last_mark_prices()
        equity = cash + sum(shares * prices.get(symbol, np.nan) for symbol, shares in positions.items())
        return Account(cash=cash, equity=float(equity), positions=positions)

    # -- the simulated exchange ------------------------------------------------------------------
    def settle(
        self,
        opens: pd.DataFrame,
        average_dollar_volume: pd.DataFrame | None = None,
        daily_volatility: pd.DataFrame | None = None,
    ) -> list[OrderState]:
        """Fill every open order whose next market date is in ``opens`` (index date, column symbol).

        Orders decided on ``d`` fill at the open of the first date after ``d`` in ``opens``; orders
        with no later date stay open. Returns the states that changed."""
        pending = self.book.order_states()
        pending = pending[pending["status"].isin(["accepted", "new"])]
        dates = pd.DatetimeIndex(opens.index).sort_values()
        changed: list[OrderState] = []
        for as_of, batch in pending.groupby("as_of", sort=True):
            later = dates[dates > pd.Timestamp(as_of)]
            if not len(later):
                continue
            day = later[0]
            symbols = batch["symbol"].tolist()
            reference = opens.reindex(index=[day], columns=symbols).to_numpy(dtype=float)[0]
            no_open = ~(np.isfinite(reference) & (reference > 0))
            sign = np.where(batch["side"].eq("buy"), 1.0, -1.0)
            delta = np.where(no_open, 0.0, sign * batch["shares"].to_numpy(dtype=float))
            decided = pd.Timestamp(as_of)
            fills = execute_orders(
                delta, np.where(no_open, 0.0, reference), self.book.cash(), self.costs, whole_shares=True,
                average_dollar_volume=_at(average_dollar_volume, decided, symbols),
                daily_volatility=_at(daily_volatility, decided, symbols),
            )  # fmt: skip
            for k, row in enumerate(batch.itertuples(index=False)):
                filled = abs(float(fills.filled[k]))
                if no_open[k]:
                    status, reason = "expired", f"no open price for {row.symbol} on {day.date()}"
                elif filled >= row.shares:
                    status, reason = "filled", None
                else:
                    status = "expired"
                    reason = f"cash covered {filled:g} of {row.shares} shares at the open of {day.date()}"
                state = OrderState(
                    row.client_order_id, row.symbol, row.side, int(row.shares), status, filled,
                    float(fills.fill_price[k]) if filled else None, row.broker_order_id, reason,
                    updated_at=dt.datetime.now(dt.UTC), commission=float(fills.commission[k]),
                )  # fmt: skip
                slippage = float(fills.slippage_cost[k])
                self.book.record_state(state, fill_date=day.date(), slippage_cost=slippage)
                changed.append(state)
        return changed

    def mark(self, date: dt.date, closes: pd.Series) -> float:
        """Value the paper account at ``date``'s closes; returns its equity."""
        return self.book.mark(date, closes)
