"""A local fake of Alpaca's paper trading API v2, so the alpaca broker is tested without the internet.

It answers the endpoints alpaca-py's ``TradingClient`` calls, with the JSON shapes Alpaca documents
(https://docs.alpaca.markets/reference): ids are UUID strings, quantities and prices are strings,
timestamps RFC 3339 in UTC, errors ``{"code": ..., "message": ...}`` with Alpaca's status codes (401 bad
keys, 403 insufficient buying power, 404 unknown order, 422 invalid or duplicate order / not cancelable).
One account lives in memory. The test plays the exchange: it fills orders (whole or in part) at a price,
rejects a symbol, delays the answer to the next POST past the client's timeout while still taking the
order, or lets lookups by client order id lag behind writes (a stale read replica).

Bound to 127.0.0.1 on a free port, served from a daemon thread; ``stop()`` (or leaving the ``with``
block) shuts it down.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OPEN = frozenset({"new", "accepted", "pending_new", "partially_filled"})
TIME_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
MAX_PAGE = 500  # Alpaca: "limit ... defaults to 50 and max is 500"
ORDER_PATH = re.compile(r"^/v2/orders/([0-9a-fA-F-]{36})$")


class AlpacaError(Exception):
    """An error answer, in Alpaca's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _timestamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(value: Decimal) -> str:
    """Alpaca writes whole quantities without decimals ("10") and prices as given ("101.5")."""
    text = format(value.normalize(), "f")
    return text


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    time_in_force: str
    type: str
    submitted_at: dt.datetime
    status: str
    updated_at: dt.datetime
    asset_id: str
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: dt.datetime | None = None
    canceled_at: dt.datetime | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _timestamp(self.submitted_at),
            "updated_at": _timestamp(self.updated_at),
            "submitted_at": _timestamp(self.submitted_at),
            "filled_at": _timestamp(self.filled_at),
            "expired_at": None,
            "canceled_at": _timestamp(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _number(self.qty),
            "filled_qty": _number(self.filled_qty),
            "filled_avg_price": None if self.filled_avg_price is None else _number(self.filled_avg_price),
            "order_class": "simple",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": "buy_to_open" if self.side == "buy" else "sell_to_close",
            "time_in_force": self.time_in_force,
            "limit_price": None,
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


@dataclass
class _Position:
    qty: Decimal
    avg_entry_price: Decimal
    asset_id: str


@dataclass
class _Script:
    """What the test asked the fake to do to coming requests."""

    rejections: dict[str, tuple[int, str]] = field(default_factory=dict)  # symbol -> (status, message)
    post_delay_s: float = 0.0  # for the next POST /v2/orders only
    post_error: int | None = None  # the next POST /v2/orders takes the order, then answers this status
    stale_lookups: int = 0  # the next n lookups by client order id answer 404


class AlpacaPaperFake:
    """One paper account behind Alpaca's REST routes; ``url`` is what alpaca-py's ``url_override`` takes."""

    def __init__(self, api_key: str = "PKTESTKEY", secret_key: str = "test-secret", cash: float = 100_000.0):
        self.api_key, self.secret_key = api_key, secret_key
        self.account_id = str(uuid.uuid4())
        self.cash = Decimal(str(cash))
        self.orders: dict[str, FakeOrder] = {}  # by Alpaca id, in submission order
        self.positions: dict[str, _Position] = {}
        self.prices: dict[
            str, Decimal
        ] = {}  # last known price per symbol: marks positions, checks buying power
        self.requests: list[
            tuple[str, str]
        ] = []  # (method, path) of every request received, authorised or not
        self._script = _Script()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_submitted = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> AlpacaPaperFake:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="alpaca-paper-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes a handler sleeping on a scripted delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AlpacaPaperFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting: what the exchange does ---------------------------------------------------------------

    def reject_symbol(self, symbol: str, message: str, status: int = 422) -> None:
        """Refuse every new order for ``symbol`` with ``status`` (403 or 422) and ``message``."""
        with self._lock:
            self._script.rejections[symbol] = (status, message)

    def delay_next_post(self, seconds: float) -> None:
        """Take the next order at once but answer only after ``seconds`` (the duplicate hazard)."""
        with self._lock:
            self._script.post_delay_s = seconds

    def fail_next_post(self, status: int = 500) -> None:
        """Take the next order, then answer ``status`` (a gateway error after the order got through)."""
        with self._lock:
            self._script.post_error = status

    def stale_lookups(self, count: int) -> None:
        """The next ``count`` lookups by client order id answer 404 even if the order exists."""
        with self._lock:
            self._script.stale_lookups = count

    def set_price(self, symbol: str, price: float) -> None:
        with self._lock:
            self.prices[symbol] = Decimal(str(price))

    def fill(self, client_order_id: str, price: float, shares: float | None = None) -> FakeOrder:
        """Execute ``shares`` (default: all that is left) of an open order at ``price``."""
        with self._lock:
            order = self.order_by_client_id(client_order_id)
            if order is None or order.status not in OPEN:
                raise ValueError(f"fake: no open order {client_order_id!r} to fill")
            left = order.qty - order.filled_qty
            qty = left if shares is None else Decimal(str(shares))
            if not 0 < qty <= left:
                raise ValueError(f"fake: cannot fill {qty} of {client_order_id!r}, {left} left")
            price_d = Decimal(str(price))
            paid = (order.filled_avg_price or Decimal(0)) * order.filled_qty + price_d * qty
            order.filled_qty += qty
            order.filled_avg_price = paid / order.filled_qty
            now = self._now()
            order.updated_at = now
            if order.filled_qty == order.qty:
                order.status, order.filled_at = "filled", now
            else:
                order.status = "partially_filled"
            signed = qty if order.side == "buy" else -qty
            self.cash -= signed * price_d
            self._move_position(order.symbol, signed, price_d, order.asset_id)
            self.prices[order.symbol] = price_d
            return order

    def accept_order(
        self, symbol: str, side: str, qty: int, client_order_id: str | None = None, time_in_force: str = "opg"
    ) -> FakeOrder:
        """Place an order as if it had been POSTed (for tests that need many orders quickly)."""
        body = {
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "type": "market",
            "time_in_force": time_in_force,
            "client_order_id": client_order_id or str(uuid.uuid4()),
        }
        with self._lock:
            return self._place(body)

    # --- state, read by tests ------------------------------------------------------------------------------

    def order_by_client_id(self, client_order_id: str) -> FakeOrder | None:
        with self._lock:
            return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p == path)

    # --- the API -----------------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _place(self, body: dict) -> FakeOrder:
        symbol = str(body.get("symbol") or "").upper()
        side, kind, tif = body.get("side"), body.get("type"), body.get("time_in_force")
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if not symbol:
            raise AlpacaError(422, 40010000, "symbol is required")
        if side not in ("buy", "sell"):
            raise AlpacaError(422, 40010000, "side must be buy or sell")
        if kind != "market":
            raise AlpacaError(422, 40010000, f"fake supports market orders only, got type {kind!r}")
        if tif not in TIME_IN_FORCE:
            raise AlpacaError(422, 40010000, f"invalid time_in_force {tif!r}")
        try:
            qty = Decimal(str(body.get("qty")))
        except ArithmeticError:
            raise AlpacaError(422, 40010000, "qty is not a number") from None
        if not qty > 0:
            raise AlpacaError(422, 40010000, "qty must be > 0")
        if len(cid) > 128:
            raise AlpacaError(422, 40010000, "client_order_id must be no more than 128 characters")
        if self.order_by_client_id(cid) is not None:
            raise AlpacaError(422, 40010001, "client_order_id must be unique")
        if symbol in self._script.rejections:
            status, message = self._script.rejections[symbol]
            raise AlpacaError(status, 40310000 if status == 403 else 42210000, message)
        if side == "buy" and symbol in self.prices and qty * self.prices[symbol] > self._buying_power():
            raise AlpacaError(403, 40310000, "insufficient buying power")
        # strictly increasing submission times, like a single matching engine's clock
        now = max(self._now(), self._last_submitted + dt.timedelta(microseconds=1))
        self._last_submitted = now
        position = self.positions.get(symbol)
        order = FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=cid,
            symbol=symbol,
            side=side,
            qty=qty,
            time_in_force=tif,
            type=kind,
            submitted_at=now,
            updated_at=now,
            status="accepted" if tif == "opg" else "new",  # an OPG order waits for the opening auction
            asset_id=position.asset_id if position else str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
        )
        self.orders[order.id] = order
        return order

    def _buying_power(self) -> Decimal:
        reserved = sum(
            (o.qty - o.filled_qty) * self.prices.get(o.symbol, Decimal(0))
            for o in self.orders.values()
            if o.side == "buy" and o.status in OPEN
        )
        return max(self.cash - reserved, Decimal(0))

    def _move_position(self, symbol: str, signed_qty: Decimal, price: Decimal, asset_id: str) -> None:
        held = self.positions.get(symbol)
        if held is None:
            self.positions[symbol] = _Position(signed_qty, price, asset_id)
            return
        new_qty = held.qty + signed_qty
        if new_qty == 0:
            del self.positions[symbol]
        elif (held.qty > 0) != (new_qty > 0):  # crossed zero: the rest is a new position at this price
            self.positions[symbol] = _Position(new_qty, price, asset_id)
        elif abs(new_qty) > abs(held.qty):  # added to it: average the entry price
            held.avg_entry_price = (held.avg_entry_price * held.qty + price * signed_qty) / new_qty
            held.qty = new_qty
        else:
            held.qty = new_qty

    def _position_json(self, symbol: str, held: _Position) -> dict:
        price = self.prices.get(symbol, held.avg_entry_price)
        market_value = held.qty * price
        cost_basis = held.qty * held.avg_entry_price
        pl = market_value - cost_basis
        return {
            "asset_id": held.asset_id,
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": _number(held.qty),
            "qty_available": _number(held.qty),
            "avg_entry_price": _number(held.avg_entry_price),
            "side": "long" if held.qty > 0 else "short",
            "market_value": _number(market_value),
            "cost_basis": _number(cost_basis),
            "unrealized_pl": _number(pl),
            "unrealized_plpc": _number(pl / abs(cost_basis)) if cost_basis else "0",
            "unrealized_intraday_pl": _number(pl),
            "unrealized_intraday_plpc": _number(pl / abs(cost_basis)) if cost_basis else "0",
            "current_price": _number(price),
            "lastday_price": _number(price),
            "change_today": "0",
        }

    def _account_json(self) -> dict:
        values = [h.qty * self.prices.get(s, h.avg_entry_price) for s, h in self.positions.items()]
        long_value = sum((v for v in values if v > 0), Decimal(0))
        short_value = sum((v for v in values if v < 0), Decimal(0))
        equity = self.cash + long_value + short_value
        buying_power = _number(self._buying_power())
        return {
            "id": self.account_id,
            "account_number": "PA3FAKE00001",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": buying_power,
            "regt_buying_power": buying_power,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": buying_power,
            "cash": _number(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": _number(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T14:30:00.000000Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": True,
            "equity": _number(equity),
            "last_equity": _number(equity),
            "long_market_value": _number(long_value),
            "short_market_value": _number(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def _list_orders(self, query: dict[str, str]) -> list[dict]:
        status = query.get("status", "open")
        limit = min(int(query.get("limit", "50")), MAX_PAGE)
        after = dt.datetime.fromisoformat(query["after"]) if "after" in query else None
        until = dt.datetime.fromisoformat(query["until"]) if "until" in query else None
        symbols = set(query["symbols"].split(",")) if query.get("symbols") else None
        chosen = [
            o
            for o in self.orders.values()
            if (status == "all" or (o.status in OPEN) == (status == "open"))
            and (after is None or o.submitted_at > after)
            and (until is None or o.submitted_at < until)
            and (symbols is None or o.symbol in symbols)
            and ("side" not in query or o.side == query["side"])
        ]
        chosen.sort(key=lambda o: o.submitted_at, reverse=query.get("direction", "desc") == "desc")
        return [o.to_json() for o in chosen[:limit]]

    def _cancel(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is None:
            raise AlpacaError(404, 40410000, "order not found")
        if order.status not in OPEN:
            raise AlpacaError(422, 42210000, f"order is not cancelable (status {order.status})")
        order.status = "canceled"
        order.canceled_at = order.updated_at = self._now()

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        """Route one request; returns (status, JSON body or None). Runs on the server's handler threads."""
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((method, path))
            if (
                headers.get("apca-api-key-id") != self.api_key
                or headers.get("apca-api-secret-key") != self.secret_key
            ):
                raise AlpacaError(401, 40110000, "request is not authorized")
            if method == "POST" and path == "/v2/orders":
                order = self._place(json.loads(body or b"{}"))
                delay, self._script.post_delay_s = self._script.post_delay_s, 0.0
                error, self._script.post_error = self._script.post_error, None
                if error is not None:
                    raise AlpacaError(error, 50010000, "internal server error")
                answer = order.to_json()
            elif method == "GET" and path == "/v2/orders:by_client_order_id":
                cid = query.get("client_order_id", "")
                order = self.order_by_client_id(cid)
                if self._script.stale_lookups > 0:
                    self._script.stale_lookups -= 1
                    order = None
                if order is None:
                    raise AlpacaError(404, 40410000, f"order not found for {cid}")
                return 200, order.to_json()
            elif method == "GET" and path == "/v2/orders":
                return 200, self._list_orders(query)
            elif (match := ORDER_PATH.match(path)) and method == "GET":
                if match.group(1) not in self.orders:
                    raise AlpacaError(404, 40410000, "order not found")
                return 200, self.orders[match.group(1)].to_json()
            elif match and method == "DELETE":
                self._cancel(match.group(1))
                return 204, None
            elif method == "GET" and path == "/v2/account":
                return 200, self._account_json()
            elif method == "GET" and path == "/v2/positions":
                return 200, [self._position_json(s, h) for s, h in sorted(self.positions.items())]
            else:
                raise AlpacaError(404, 40410000, f"fake has no route {method} {path}")
        self._stopping.wait(delay)  # outside the lock: lookups are answered while this POST hangs
        return 200, answer


class _Handler(BaseHTTPRequestHandler):
    fake: AlpacaPaperFake
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' session expects

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload = self.fake.answer(self.command, self.path, headers, body)
        except AlpacaError as error:
            status, payload = error.status, {"code": error.code, "message": error.message}
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a scripted delay)
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:  # quiet in tests
        pass
