"""The alpaca broker: Alpaca's paper trading API through alpaca-py's ``TradingClient``, paper accounts only.

Orders are market orders in whole shares, market-on-open (``opg``) by default because the cycle sizes them
at the close to fill at the next open (``day`` is the alternative). Our ``client_order_id`` is passed
through and is what makes retries safe: every attempt first asks Alpaca for that id and sends the order
only if Alpaca has never seen it, so an order accepted just before a timeout is never sent twice; Alpaca
itself refuses a second order with a known id (422), which covers a race with another process.

An order Alpaca refuses (403 insufficient buying power, 422 invalid) comes back as an ``OrderState`` with
status ``rejected`` and Alpaca's message as reason; an unreachable or failing server after the bounded
retries, or refused credentials, raise ``BrokerError``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from quant_assets.brokers.base import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Account,
    BrokerError,
    OrderRequest,
    OrderState,
)

KEY_VARIABLE = "APCA_API_KEY_ID"
SECRET_VARIABLE = "APCA_API_SECRET_KEY"
URL_VARIABLE = "APCA_API_BASE_URL"
LIVE_HOSTS = frozenset({"api.alpaca.markets"})  # real money; paper is paper-api.alpaca.markets
PAGE_SIZE = 500  # Alpaca's largest page of orders
TimeInForceName = Literal["opg", "day"]
T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    """A default timeout for every request: alpaca-py sets none (alpaca-py issue 415), so a silent server
    would hang the trading cycle instead of raising a timeout we can retry."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def _is_transient(error: BaseException) -> bool:
    """Worth another attempt: no answer (timeout, connection refused or dropped) or a server-side 5xx."""
    if isinstance(
        error, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    ):
        return True
    return isinstance(error, APIError) and (error.status_code or 0) >= 500


def _alpaca_message(error: APIError) -> str:
    """Alpaca's ``message`` from an error body ``{"code": ..., "message": ...}``, or the raw body."""
    try:
        return str(json.loads(str(error))["message"])
    except (ValueError, KeyError, TypeError):
        return str(error) or f"HTTP {error.status_code}"


def _normalise_url(url: str) -> str:
    """alpaca-py appends ``/v2`` itself; Alpaca's docs write APCA_API_BASE_URL both with and without it."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/v2")


def _status(order: Order, filled: float, qty: int) -> tuple[str, str | None]:
    """Alpaca's status in our vocabulary (base.OPEN_STATUSES | FINAL_STATUSES), with a reason if translated.

    Alpaca has more states than the cycle needs: ``replaced`` ends this order (a new one took its place);
    the in-between ones (pending_cancel, done_for_day, held, ...) are still open, as partially_filled or
    accepted depending on whether anything has filled.
    """
    raw = str(order.status.value)
    if raw in OPEN_STATUSES or raw in FINAL_STATUSES:
        return raw, None
    if raw == "replaced":
        return "canceled", f"replaced by Alpaca order {order.replaced_by}"
    if filled >= qty > 0:
        return "filled", f"Alpaca status {raw}"
    return ("partially_filled" if filled > 0 else "accepted"), f"Alpaca status {raw}"


def order_state(order: Order) -> OrderState:
    """One alpaca-py ``Order`` as the cycle sees it (quantities as numbers, fills and their average price)."""
    qty = int(float(order.qty or 0))
    filled = float(order.filled_qty or 0)
    status, reason = _status(order, filled, qty)
    return OrderState(
        client_order_id=order.client_order_id,
        symbol=str(order.symbol),
        side="buy" if order.side == OrderSide.BUY else "sell",
        shares=qty,
        status=status,
        filled_shares=filled,
        average_fill_price=float(order.filled_avg_price) if filled > 0 and order.filled_avg_price else None,
        broker_order_id=str(order.id),
        reason=reason,
        submitted_at=order.submitted_at,
        updated_at=order.updated_at,
    )


class AlpacaBroker:
    """The :class:`~quant_assets.brokers.base.Broker` protocol on an Alpaca paper account."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        base_url: str | None = None,
        paper: bool = True,
        time_in_force: TimeInForceName = "opg",
        timeout_s: float = 10.0,
        attempts: int = 4,
        retry_wait_s: float = 1.0,
    ) -> None:
        """``base_url`` overrides Alpaca's paper endpoint (a proxy, or a local fake in tests); ``timeout_s``
        bounds each HTTP request; ``attempts`` bounds the tries of one operation, ``retry_wait_s`` the
        first pause between them (doubling, at most 30 s)."""
        if not paper:
            raise ValueError("alpaca broker: paper=False would trade real money; this broker is paper-only")
        if base_url and urlsplit(_normalise_url(base_url)).hostname in LIVE_HOSTS:
            raise ValueError(
                f"alpaca broker: base URL {base_url} is Alpaca's live (real money) endpoint; this broker is "
                "paper-only (use https://paper-api.alpaca.markets)"
            )
        if time_in_force not in ("opg", "day"):
            raise ValueError(f"alpaca broker: time_in_force must be 'opg' or 'day', got {time_in_force!r}")
        if attempts < 1 or timeout_s <= 0:
            raise ValueError(
                f"alpaca broker: need attempts >= 1 and timeout_s > 0, got {attempts}, {timeout_s}"
            )
        self.base_url = _normalise_url(base_url) if base_url else "https://paper-api.alpaca.markets"
        self.time_in_force = time_in_force
        self._attempts, self._retry_wait_s = attempts, retry_wait_s
        self._client = TradingClient(api_key, secret_key, paper=True, url_override=self.base_url)
        session = getattr(self._client, "_session", None)  # private in alpaca-py; fail closed if it moves
        if not isinstance(session, requests.Session):
            raise BrokerError(
                "alpaca broker: alpaca-py's TradingClient no longer has a requests session (_session) to "
                "bound with a timeout; check the installed alpaca-py release against brokers/alpaca.py"
            )
        adapter = _TimeoutAdapter(timeout_s)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    @classmethod
    def from_environment(cls, env: Mapping[str, str], **options: object) -> AlpacaBroker:
        """Build from Alpaca's own variables (``Settings.environment`` holds them as read at load):
        APCA_API_KEY_ID, APCA_API_SECRET_KEY and, optionally, APCA_API_BASE_URL."""
        missing = [name for name in (KEY_VARIABLE, SECRET_VARIABLE) if not env.get(name, "").strip()]
        if missing:
            raise ValueError(
                f"alpaca broker: {' and '.join(missing)} not set; export the paper account's API key id and "
                f"secret ({KEY_VARIABLE}, {SECRET_VARIABLE}) from Alpaca's paper dashboard"
            )
        return cls(
            env[KEY_VARIABLE].strip(),
            env[SECRET_VARIABLE].strip(),
            base_url=env.get(URL_VARIABLE, "").strip() or None,
            **options,  # type: ignore[arg-type]
        )

    # --- the protocol ------------------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> OrderState:
        def attempt() -> OrderState:
            known = self._find(order.client_order_id)
            if known is not None:
                return self._matching(order, known)
            try:
                placed = self._client.submit_order(self._market_order(order))
            except APIError as error:
                if error.status_code not in (403, 422):
                    raise
                known = self._find(order.client_order_id)  # 422 for a duplicate id: placed by someone else
                if known is not None:
                    return self._matching(order, known)
                return OrderState(
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    shares=order.shares,
                    status="rejected",
                    reason=_alpaca_message(error),
                    updated_at=dt.datetime.now(dt.UTC),
                )
            return order_state(placed)

        return self._retrying(
            f"submit {order.client_order_id} ({order.side} {order.shares} {order.symbol})", attempt
        )

    def get_order(self, client_order_id: str) -> OrderState | None:
        def attempt() -> OrderState | None:
            known = self._find(client_order_id)
            return None if known is None else order_state(known)

        return self._retrying(f"get order {client_order_id}", attempt)

    def cancel(self, client_order_id: str) -> OrderState:
        def attempt() -> OrderState:
            known = self._find(client_order_id)
            if known is None:
                raise BrokerError(
                    f"alpaca: cannot cancel {client_order_id}: Alpaca has no order with that id"
                )
            if not order_state(known).is_open:
                return order_state(known)
            try:
                self._client.cancel_order_by_id(known.id)
            except APIError as error:
                if error.status_code != 422:  # 422: no longer cancelable (filled or canceled meanwhile)
                    raise
            return order_state(self._client.get_order_by_id(known.id))

        return self._retrying(f"cancel {client_order_id}", attempt)

    def open_orders(self) -> list[OrderState]:
        return self._retrying("list open orders", self._all_open_orders)

    def account(self) -> Account:
        def attempt() -> Account:
            account = self._client.get_account()
            positions: dict[str, float] = {}
            for position in self._client.get_all_positions():
                shares = abs(float(position.qty))
                positions[position.symbol] = -shares if position.side.value == "short" else shares
            return Account(
                cash=float(account.cash or 0), equity=float(account.equity or 0), positions=positions
            )

        return self._retrying("read account", attempt)

    # --- helpers -----------------------------------------------------------------------------------------

    def _market_order(self, order: OrderRequest) -> MarketOrderRequest:
        return MarketOrderRequest(
            symbol=order.symbol,
            qty=int(order.shares),
            side=OrderSide.BUY if order.side == "buy" else OrderSide.SELL,
            time_in_force=TimeInForce(self.time_in_force),
            client_order_id=order.client_order_id,
        )

    def _find(self, client_order_id: str) -> Order | None:
        try:
            return self._client.get_order_by_client_id(client_order_id)
        except APIError as error:
            if error.status_code == 404:
                return None
            raise

    @staticmethod
    def _matching(order: OrderRequest, known: Order) -> OrderState:
        """The known order's state, if it is the order asked for; a reused id for another order is a bug."""
        state = order_state(known)
        if (state.symbol, state.side, state.shares) != (order.symbol, order.side, order.shares):
            raise BrokerError(
                f"alpaca: client_order_id {order.client_order_id} is already used by a different order "
                f"({state.side} {state.shares} {state.symbol}, Alpaca id {state.broker_order_id}); asked for "
                f"{order.side} {order.shares} {order.symbol}"
            )
        return state

    def _all_open_orders(self) -> list[OrderState]:
        """Every open order, oldest first, a page of 500 at a time (pages overlap by 1 us, deduplicated)."""
        seen: dict[str, Order] = {}
        after: dt.datetime | None = None
        while True:
            page = self._client.get_orders(
                GetOrdersRequest(
                    status=QueryOrderStatus.OPEN, limit=PAGE_SIZE, direction=Sort.ASC, after=after
                )
            )
            new = [o for o in page if str(o.id) not in seen]
            seen.update((str(o.id), o) for o in new)
            if len(page) < PAGE_SIZE:
                return [order_state(o) for o in seen.values()]
            if not new:
                raise BrokerError(
                    f"alpaca: over {PAGE_SIZE} open orders share the submission time {after}; cannot page"
                )
            after = max(o.submitted_at for o in page) - dt.timedelta(microseconds=1)

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._retry_wait_s, max=30),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except APIError as error:
            raise BrokerError(
                f"alpaca {what}: {self.base_url} answered HTTP {error.status_code}: {_alpaca_message(error)}"
            ) from error
        except requests.RequestException as error:
            raise BrokerError(
                f"alpaca {what}: no answer from {self.base_url} after {self._attempts} attempts "
                f"({type(error).__name__}: {error})"
            ) from error
