"""An append-only trading ledger in SQL: orders, their states, fills, cash and daily marks.

Nothing is ever updated or deleted: an order's state is its newest event, a position is the sum of its
fills, cash is the sum of its movements, a day's equity is its newest mark. So every number the ledger
reports can be traced to the rows that made it, and a crashed cycle leaves rows, never half-edited ones.

Two books use this class: the platform's own record of what it sent and what filled (prefix ``ledger``),
and the paper broker's simulated exchange (prefix ``paper``, see ``brokers.paper``). Reconciliation
compares the first with what the broker reports. SQLite by default; any SQLAlchemy URL works
(``postgresql+psycopg://...`` in production). Fill rows have a natural key (order id + cumulative filled
shares), so recording the same broker report twice never doubles a fill.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from quant_assets.brokers.base import OrderRequest, OrderState
from quant_assets.core.stops import Holding


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Entry:
    """A held position's entry: when it was opened (from flat) and its average cost since then."""

    symbol: str
    shares: float
    entry_date: pd.Timestamp
    entry_price: float


class Ledger:
    def __init__(self, url: str, prefix: str = "ledger") -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        meta = sa.MetaData()
        self.orders = sa.Table(
            f"{prefix}_orders", meta,
            sa.Column("client_order_id", sa.String(128), primary_key=True),
            sa.Column("symbol", sa.String(32), nullable=False),
            sa.Column("side", sa.String(4), nullable=False),
            sa.Column("shares", sa.Integer, nullable=False),
            sa.Column("reference_price", sa.Float, nullable=False),
            sa.Column("as_of", sa.Date, nullable=False),  # the decision date; fills at the next open
            sa.Column("portfolio_version", sa.String(64)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )  # fmt: skip
        self.events = sa.Table(
            f"{prefix}_order_events", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("client_order_id", sa.String(128), nullable=False, index=True),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("filled_shares", sa.Float, nullable=False),
            sa.Column("average_fill_price", sa.Float),
            sa.Column("commission", sa.Float, nullable=False, default=0.0),  # cumulative, dollars
            sa.Column("broker_order_id", sa.String(64)),
            sa.Column("reason", sa.Text),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )  # fmt: skip
        self.fills = sa.Table(
            f"{prefix}_fills", meta,
            sa.Column("fill_key", sa.String(200), primary_key=True),
            sa.Column("client_order_id", sa.String(128), nullable=False, index=True),
            sa.Column("symbol", sa.String(32), nullable=False),
            sa.Column("shares", sa.Float, nullable=False),  # signed: + bought, - sold
            sa.Column("price", sa.Float, nullable=False),
            sa.Column("commission", sa.Float, nullable=False),
            sa.Column("slippage_cost", sa.Float, nullable=False),
            sa.Column("fill_date", sa.Date, nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )  # fmt: skip
        self.cash_moves = sa.Table(
            f"{prefix}_cash", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("amount", sa.Float, nullable=False),
            sa.Column("reason", sa.String(200), nullable=False),
            sa.Column("fill_key", sa.String(200), unique=True),  # one cash row per fill, at most
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )  # fmt: skip
        self.marks = sa.Table(
            f"{prefix}_marks", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("date", sa.Date, nullable=False, index=True),
            sa.Column("symbol", sa.String(32)),  # None: the account's row (cash, equity)
            sa.Column("shares", sa.Float),
            sa.Column("price", sa.Float),
            sa.Column("value", sa.Float, nullable=False),  # position value, or the account's equity
            sa.Column("cash", sa.Float),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )  # fmt: skip
        self.rule_events = sa.Table(
            f"{prefix}_rule_events", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("date", sa.Date, nullable=False),
            sa.Column("symbol", sa.String(32)),  # None: the whole account (the drawdown stop)
            sa.Column("rule", sa.String(32), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint("date", "symbol", "rule", name=f"{prefix}_rule_event_once"),
        )  # fmt: skip
        meta.create_all(self.engine)

    # -- writing ---------------------------------------------------------------------------------
    def deposit(self, amount: float, reason: str = "deposit") -> None:
        with self.engine.begin() as db:
            db.execute(self.cash_moves.insert().values(amount=amount, reason=reason, recorded_at=_now()))

    def record_order(self, order: OrderRequest, as_of: dt.date, version: str | None = None) -> bool:
        """Store an order request once; returns False if the id was already known (nothing written)."""
        try:
            with self.engine.begin() as db:
                if db.execute(sa.select(self.orders.c.client_order_id).where(
                    self.orders.c.client_order_id == order.client_order_id
                )).first():  # fmt: skip
                    return False
                db.execute(self.orders.insert().values(
                    client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
                    shares=int(order.shares), reference_price=float(order.reference_price),
                    as_of=pd.Timestamp(as_of).date(), portfolio_version=version, created_at=_now(),
                ))  # fmt: skip
        except sa.exc.IntegrityError:  # another writer stored the same id between our read and insert
            return False
        return True

    def record_state(
        self,
        state: OrderState,
        fill_date: dt.date | None = None,
        slippage_cost: float = 0.0,
    ) -> float:
        """Append ``state`` if it changed, and the fill it implies (shares filled since the last state,
        charged the commission added since then).

        Returns the newly filled shares (0 when nothing new). Idempotent: the same report twice adds
        nothing, because a fill's key is the order id plus its cumulative filled shares; two writers
        racing on one report store it once (the loser's transaction, event included, rolls back)."""
        try:
            return self._record_state(state, fill_date, slippage_cost)
        except sa.exc.IntegrityError:
            return 0.0

    def _record_state(self, state: OrderState, fill_date: dt.date | None, slippage_cost: float) -> float:
        with self.engine.begin() as db:
            last = self._last_event(db, state.client_order_id)
            already = float(last.filled_shares) if last else 0.0
            notional_before = already * float(last.average_fill_price or 0.0) if last else 0.0
            commission = float(state.commission) - (float(last.commission) if last else 0.0)
            changed = last is None or (last.status, float(last.filled_shares)) != (
                state.status, float(state.filled_shares)
            )
            if not changed:
                return 0.0
            db.execute(self.events.insert().values(
                client_order_id=state.client_order_id, status=state.status,
                filled_shares=float(state.filled_shares), average_fill_price=state.average_fill_price,
                commission=float(state.commission), broker_order_id=state.broker_order_id,
                reason=state.reason, recorded_at=_now(),
            ))  # fmt: skip
            new = float(state.filled_shares) - already
            if new <= 0 or state.average_fill_price is None:
                return 0.0
            price = (float(state.filled_shares) * state.average_fill_price - notional_before) / new
            sign = 1.0 if state.side == "buy" else -1.0
            key = f"{state.client_order_id}:{float(state.filled_shares):g}"
            when = pd.Timestamp(fill_date or (state.updated_at or _now())).date()
            db.execute(self.fills.insert().values(
                fill_key=key, client_order_id=state.client_order_id, symbol=state.symbol,
                shares=sign * new, price=price, commission=commission, slippage_cost=slippage_cost,
                fill_date=when, recorded_at=_now(),
            ))  # fmt: skip
            db.execute(self.cash_moves.insert().values(
                amount=-sign * new * price - commission, fill_key=key, recorded_at=_now(),
                reason=f"{state.side} {new:g} {state.symbol} @ {price:.4f}, commission {commission:.2f}",
            ))  # fmt: skip
            return new

    def record_rule_events(self, events: list[dict]) -> int:
        """Store the risk rules' events the cycle acted on (date, symbol, rule, reason); each once."""
        added = 0
        for event in events:
            day = pd.Timestamp(event["date"]).date()
            symbol_is = (self.rule_events.c.symbol.is_(None) if event["symbol"] is None
                         else self.rule_events.c.symbol == event["symbol"])  # fmt: skip
            try:
                with self.engine.begin() as db:
                    known = db.execute(sa.select(self.rule_events.c.id).where(
                        self.rule_events.c.date == day, symbol_is, self.rule_events.c.rule == event["rule"]
                    )).first()  # fmt: skip
                    if known is None:
                        db.execute(self.rule_events.insert().values(
                            date=day, symbol=event["symbol"], rule=event["rule"], reason=event["reason"],
                            recorded_at=_now(),
                        ))  # fmt: skip
                        added += 1
            except sa.exc.IntegrityError:  # recorded by a concurrent cycle
                continue
        return added

    def rule_event_history(self) -> pd.DataFrame:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(self.rule_events).order_by(self.rule_events.c.id)).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["id", "date", "symbol", "rule", "reason",
                                                                "recorded_at"])  # fmt: skip
        frame["date"] = pd.to_datetime(frame["date"])
        return frame

    def holdings(self) -> dict[str, Holding]:
        """Open positions as the stop-loss reads them: entry date and average entry price."""
        return {s: Holding(e.entry_date, e.entry_price) for s, e in self.entries().items()}

    def stopped_out(self) -> dict[str, pd.Timestamp]:
        """Each name's latest stop-loss exit the cycle acted on (the cooldown counts from it)."""
        events = self.rule_event_history()
        exits = events[events["rule"] == "stop_loss"]
        return {s: pd.Timestamp(d) for s, d in exits.groupby("symbol")["date"].max().items()}

    def mark(self, date: dt.date, closes: pd.Series) -> float:
        """Value the book at ``date``'s closes (a held name without one keeps its last mark); returns equity.

        Marking the same date again appends a new mark (the newest wins): revised closes never
        overwrite the old figures."""
        positions = self.positions()
        last_prices = self.last_mark_prices()
        rows, total = [], 0.0
        for symbol, shares in positions.items():
            price = closes.get(symbol)
            price = float(price) if price is not None and pd.notna(price) else last_prices.get(symbol)
            if price is None:
                raise ValueError(
                    f"{symbol}: held ({shares:g} shares) but no close on {date} and no earlier mark"
                )
            rows.append({"symbol": symbol, "shares": shares, "price": price, "value": shares * price})
            total += shares * price
        cash = self.cash()
        now, day = _now(), pd.Timestamp(date).date()
        with self.engine.begin() as db:
            for row in rows:
                db.execute(self.marks.insert().values(date=day, recorded_at=now, **row))
            db.execute(self.marks.insert().values(date=day, value=cash + total, cash=cash, recorded_at=now))
        return cash + total

    # -- reading ---------------------------------------------------------------------------------
    def _last_event(self, db: sa.Connection, client_order_id: str) -> sa.Row | None:
        return db.execute(
            sa.select(self.events).where(self.events.c.client_order_id == client_order_id)
            .order_by(self.events.c.id.desc()).limit(1)
        ).first()  # fmt: skip

    def cash(self) -> float:
        with self.engine.connect() as db:
            return float(db.execute(sa.select(sa.func.coalesce(sa.func.sum(self.cash_moves.c.amount), 0.0)))
                         .scalar_one())  # fmt: skip

    def positions(self) -> dict[str, float]:
        """Shares held per symbol: the sum of its fills (flat names left out)."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(self.fills.c.symbol, sa.func.sum(self.fills.c.shares)).group_by(self.fills.c.symbol)
            ).all()
        return {symbol: float(shares) for symbol, shares in sorted(rows) if abs(shares) > 1e-9}

    def last_mark_prices(self) -> dict[str, float]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(self.marks.c.symbol, self.marks.c.price)
                .where(self.marks.c.symbol.is_not(None)).order_by(self.marks.c.id)
            ).all()  # fmt: skip
        return {symbol: float(price) for symbol, price in rows}

    def equity_history(self) -> pd.DataFrame:
        """One row per marked date (the newest mark of that date): cash, positions, equity."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(self.marks.c.date, self.marks.c.cash, self.marks.c.value)
                .where(self.marks.c.symbol.is_(None)).order_by(self.marks.c.id)
            ).all()  # fmt: skip
        frame = pd.DataFrame(rows, columns=["date", "cash", "equity"])
        frame["date"] = pd.to_datetime(frame["date"])
        frame = frame.drop_duplicates("date", keep="last").set_index("date").sort_index()
        frame["positions"] = frame["equity"] - frame["cash"]
        return frame[["cash", "positions", "equity"]]

    def drawdown(self) -> float | None:
        """How far the newest marked equity is below its highest mark (None before the first mark)."""
        history = self.equity_history()
        if history.empty:
            return None
        peak = float(history["equity"].max())
        return 1 - float(history["equity"].iloc[-1]) / peak if peak > 0 else None

    def order_states(self, status: str | None = None) -> pd.DataFrame:
        """Every order with its newest state (``status`` filters on it)."""
        with self.engine.connect() as db:
            newest = (
                sa.select(self.events.c.client_order_id, sa.func.max(self.events.c.id).label("id"))
                .group_by(self.events.c.client_order_id).subquery()
            )  # fmt: skip
            rows = db.execute(
                sa.select(
                    self.orders, self.events.c.status, self.events.c.filled_shares,
                    self.events.c.average_fill_price, self.events.c.commission, self.events.c.broker_order_id,
                    self.events.c.reason,
                    self.events.c.recorded_at.label("updated_at"),
                )
                .select_from(
                    self.orders.outerjoin(newest, newest.c.client_order_id == self.orders.c.client_order_id)
                    .outerjoin(self.events, self.events.c.id == newest.c.id)
                )
                .order_by(self.orders.c.created_at)
            ).mappings().all()  # fmt: skip
        frame = pd.DataFrame([dict(r) for r in rows], columns=[
            "client_order_id", "symbol", "side", "shares", "reference_price", "as_of", "portfolio_version",
            "created_at", "status", "filled_shares", "average_fill_price", "commission", "broker_order_id",
            "reason",
            "updated_at",
        ])  # fmt: skip
        frame["status"] = frame["status"].fillna("pending_new")  # recorded, never acknowledged
        frame["filled_shares"] = frame["filled_shares"].astype(float).fillna(0.0)
        frame["commission"] = frame["commission"].astype(float).fillna(0.0)
        return frame if status is None else frame[frame["status"] == status].reset_index(drop=True)

    def fill_history(self) -> pd.DataFrame:
        with self.engine.connect() as db:
            order = (self.fills.c.fill_date, self.fills.c.recorded_at)
            rows = db.execute(sa.select(self.fills).order_by(*order))
            frame = pd.DataFrame(rows.mappings().all(), columns=[c.name for c in self.fills.columns])
        frame["fill_date"] = pd.to_datetime(frame["fill_date"])
        return frame

    def entries(self) -> dict[str, Entry]:
        """Per held symbol: the date its current position was opened from flat, and its average cost."""
        out: dict[str, Entry] = {}
        for symbol, fills in self.fill_history().groupby("symbol", sort=True):
            shares, cost, opened = 0.0, 0.0, None
            for row in fills.itertuples():
                if shares <= 1e-9 and row.shares > 0:
                    opened, cost = row.fill_date, 0.0
                if row.shares > 0:
                    cost += row.shares * row.price
                else:  # a sale keeps the average cost of what is left
                    cost *= max(shares + row.shares, 0.0) / shares if shares > 0 else 0.0
                shares += row.shares
            if shares > 1e-9 and opened is not None:
                out[symbol] = Entry(symbol, shares, pd.Timestamp(opened), cost / shares)
        return out
