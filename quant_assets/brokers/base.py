"""What every broker speaks: order requests, order states, positions and the account, behind one protocol.

The trading cycle (``assets/trading.py``) only talks to :class:`Broker`. Two implementations:
``paper`` (``brokers/paper.py``: the platform's own simulated account on a SQL ledger, filled with the
backtest's cost model) and ``alpaca`` (``brokers/alpaca.py``: alpaca-py's paper ``TradingClient``).

Idempotency is the broker's contract, not the caller's: ``submit`` with a ``client_order_id`` the broker
has already seen returns that order's current state and sends nothing new, so a retried cycle (same
portfolio version, same symbol -> same id) can never double an order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Side = Literal["buy", "sell"]
# The states an order passes through, as Alpaca names them (the paper broker uses the same words).
OPEN_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled"})
FINAL_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})


class BrokerError(RuntimeError):
    """The broker could not be reached or refused the request as a whole (not one order's rejection)."""


@dataclass(frozen=True)
class OrderRequest:
    """One order the cycle wants: whole shares, market, to be filled at the next open."""

    client_order_id: str
    symbol: str
    side: Side
    shares: int
    reference_price: float  # the price it was sized at (the decision date's close)

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"order {self.client_order_id}: side must be 'buy' or 'sell', got {self.side!r}")
        if int(self.shares) != self.shares or self.shares <= 0:
            raise ValueError(
                f"order {self.client_order_id} ({self.symbol}): shares must be a positive whole number, "
                f"got {self.shares!r}"
            )


@dataclass(frozen=True)
class OrderState:
    """What the broker says about one order now."""

    client_order_id: str
    symbol: str
    side: Side
    shares: int
    status: str  # one of OPEN_STATUSES | FINAL_STATUSES
    filled_shares: float = 0.0
    average_fill_price: float | None = None
    broker_order_id: str | None = None
    reason: str | None = None  # why it was rejected or canceled, in the broker's words
    submitted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    commission: float = 0.0  # dollars charged on this order so far (0 at commission-free brokers)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Account:
    """Cash, positions (symbol -> shares) and equity as the broker reports them."""

    cash: float
    equity: float
    positions: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Broker(Protocol):
    """The operations a trading cycle needs; each implementation documents how it maps them."""

    name: str

    def submit(self, order: OrderRequest) -> OrderState:
        """Send ``order``; a repeated ``client_order_id`` returns the known order and sends nothing."""
        ...

    def get_order(self, client_order_id: str) -> OrderState | None:
        """The order's current state, or None if the broker never saw this id."""
        ...

    def cancel(self, client_order_id: str) -> OrderState:
        """Ask to cancel an open order; returns its state after the request."""
        ...

    def open_orders(self) -> list[OrderState]:
        """Orders not yet filled, canceled, rejected or expired."""
        ...

    def account(self) -> Account:
        """Cash, equity and positions now."""
        ...
