"""Send an alert to every configured channel, at most once per dedupe window and within the hourly limit.

Sensors and runs are separate processes, so the memory of what was sent lives in a small SQLite file.
Deciding (duplicate? over the limit?) and reserving the alert's row happen in one ``BEGIN IMMEDIATE``
transaction, which SQLite serialises across processes; the network calls come after the commit, so no
lock is held while a slow receiver answers. Every alert is recorded, sent or not, and can be read back
with :meth:`Notifier.history`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from quant_assets.alerts.alert import Alert
from quant_assets.alerts.channels import Channel, EmailChannel, WebhookChannel
from quant_assets.alerts.config import AlertConfig
from quant_assets.alerts.render import plain_text, timestamp

logger = logging.getLogger("quant_assets.alerts")

# Rows that stand for an alert that went (or is going) out: they count for dedupe and the hourly limit.
# A "failed" alert reached no one, so the next identical one is tried again.
_COUNTED = ("sending", "sent", "partial", "logged")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    fields TEXT NOT NULL,
    status TEXT NOT NULL,
    delivered TEXT NOT NULL DEFAULT '',
    failures TEXT NOT NULL DEFAULT '{}',
    reason TEXT
);
CREATE INDEX IF NOT EXISTS alerts_by_key ON alerts (dedupe_key, at);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (at);
"""


@dataclass(frozen=True)
class Delivery:
    """What became of one alert: the channels that took it, those that failed and why, or why it was held.

    ``status``: ``sent`` (every channel), ``partial``, ``failed`` (no channel took it), ``logged`` (no
    channel is configured), ``suppressed`` (a duplicate or over the hourly limit: see ``suppressed``).
    """

    alert: Alert
    at: float
    status: str
    delivered: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    suppressed: str | None = None
    id: int | None = None

    @property
    def sent(self) -> bool:
        return bool(self.delivered)


def configured_channels(config: AlertConfig) -> list[Channel]:
    channels: list[Channel] = []
    if config.webhook_url:
        channels.append(WebhookChannel(config.webhook_url, timeout=config.webhook_timeout_seconds))
    if config.smtp_host:
        channels.append(
            EmailChannel(
                config.smtp_host,
                config.smtp_port,
                sender=config.email_from or "",
                recipients=config.email_to,
                username=config.smtp_user,
                password=config.smtp_password,
                starttls=config.smtp_starttls,
                timeout=config.smtp_timeout_seconds,
            )
        )
    return channels


class Notifier:
    """One notifier per process is enough, but any number may share ``state_path``."""

    def __init__(self, config: AlertConfig, state_path: str | Path, clock: Callable[[], float] = time.time):
        self.config = config
        self.state_path = Path(state_path)
        self.channels = configured_channels(config)
        self._clock = clock
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with self._database() as db:
            db.executescript(_SCHEMA)

    def send(self, alert: Alert) -> Delivery:
        """Deliver ``alert`` or record why not; a failing channel is logged and recorded, never raised."""
        at = self._clock()
        with self._database() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                reason = self._suppression(db, alert, at)
                status = "suppressed" if reason else ("sending" if self.channels else "logged")
                values = (at, alert.kind, alert.severity, alert.title, alert.text, alert.dedupe_key)
                row = db.execute(
                    "INSERT INTO alerts (at, kind, severity, title, text, dedupe_key, fields, status, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, json.dumps(alert.fields), status, reason),
                ).lastrowid
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if reason:
            logger.info("alert %r suppressed: %s", alert.title, reason)
            return Delivery(alert, at, "suppressed", suppressed=reason, id=row)
        if not self.channels:
            logger.warning("alert (no channel configured, only logged):\n%s", plain_text(alert, at))
            return Delivery(alert, at, "logged", id=row)
        delivered: list[str] = []
        failed: dict[str, str] = {}
        for channel in self.channels:
            try:
                channel.deliver(alert, at)
                delivered.append(channel.name)
            except Exception as error:  # one broken channel must not stop the other, nor the caller
                failed[channel.name] = f"{type(error).__name__}: {error}"
                logger.warning(
                    "alert %r: %s channel failed: %s", alert.title, channel.name, failed[channel.name]
                )
        status = "sent" if not failed else ("partial" if delivered else "failed")
        with self._database() as db:
            db.execute(
                "UPDATE alerts SET status = ?, delivered = ?, failures = ? WHERE id = ?",
                (status, ",".join(delivered), json.dumps(failed), row),
            )
        if delivered:
            logger.info("alert %r sent to %s", alert.title, ", ".join(delivered))
        return Delivery(alert, at, status, tuple(delivered), failed, id=row)

    def history(self, limit: int = 50) -> list[Delivery]:
        """The newest ``limit`` alerts, newest first, whatever became of them."""
        with self._database() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_delivery_from_row(row) for row in rows]

    def _suppression(self, db: sqlite3.Connection, alert: Alert, at: float) -> str | None:
        placeholders = ", ".join("?" * len(_COUNTED))
        window_minutes = self.config.dedupe_minutes
        if window_minutes > 0:
            (previous,) = db.execute(
                f"SELECT MAX(at) FROM alerts WHERE dedupe_key = ? AND at > ? AND status IN ({placeholders})",
                (alert.dedupe_key, at - window_minutes * 60, *_COUNTED),
            ).fetchone()
            if previous is not None:
                sent = timestamp(previous)
                return f"duplicate of an alert sent at {sent} (dedupe window {window_minutes:g} min)"
        count, first = db.execute(
            f"SELECT COUNT(*), MIN(at) FROM alerts WHERE at > ? AND status IN ({placeholders})",
            (at - 3600, *_COUNTED),
        ).fetchone()
        if count >= self.config.max_per_hour:
            return f"rate limit {self.config.max_per_hour} per hour: {count} alerts since {timestamp(first)}"
        return None

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """A short-lived autocommit connection; waits up to 30 s for another process's transaction."""
        try:
            with closing(sqlite3.connect(self.state_path, timeout=30, isolation_level=None)) as db:
                yield db
        except sqlite3.Error as error:
            raise RuntimeError(f"alert state {self.state_path}: {error}") from error


def _delivery_from_row(row: sqlite3.Row) -> Delivery:
    alert = Alert(
        row["kind"], row["title"], row["text"], row["severity"], row["dedupe_key"], json.loads(row["fields"])
    )
    return Delivery(
        alert,
        at=row["at"],
        status=row["status"],
        delivered=tuple(name for name in row["delivered"].split(",") if name),
        failed=json.loads(row["failures"]),
        suppressed=row["reason"],
        id=row["id"],
    )
