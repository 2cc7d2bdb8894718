"""Real receivers on loopback: an HTTP server that records webhook POSTs and an aiosmtpd SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from quant_assets.alerts import AlertConfig
from quant_assets.resources.alerts import AlertsResource


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the receiver")
        time.sleep(0.02)


@dataclass
class WebhookReceiver:
    url: str
    posts: list[dict] = field(default_factory=list)  # {"path", "content_type", "body"}
    # Status codes to answer with, one per request, then 200 for every request after them.
    statuses: list[int] = field(default_factory=list)
    requests_seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bodies(self) -> list[dict]:
        return [post["body"] for post in self.posts]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.lock:
                receiver.requests_seen += 1
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.posts.append(
                        {
                            "path": self.path,
                            "content_type": self.headers["Content-Type"],
                            "body": json.loads(raw),
                        }
                    )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"receiver says no")

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (mail from, rcpt tos)
    logins: list[tuple[str, str]] = field(default_factory=list)


class _Collector:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mailbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.mailbox.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


def _start_smtp(**smtp_options) -> tuple[Controller, Mailbox]:
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(_Collector(mailbox), hostname=mailbox.host, port=mailbox.port, **smtp_options)
    controller.start()
    return controller, mailbox


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    controller, mailbox = _start_smtp()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_with_login() -> Iterator[Mailbox]:
    """An SMTP server that asks for a login (accepting alerts/s3cret only), without TLS."""
    holder: dict[str, Mailbox] = {}

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        holder["mailbox"].logins.append((login, password))
        # handled=False: aiosmtpd answers a refusal with 535 itself
        return AuthResult(success=(login, password) == ("alerts", "s3cret"), handled=False)

    controller, mailbox = _start_smtp(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    holder["mailbox"] = mailbox
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}/hooks/alerts"


@pytest.fixture
def email(smtp) -> dict[str, object]:
    """``AlertConfig`` keywords that send e-mail to the local SMTP server."""
    return {
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "email_from": "quant@example.org",
        "email_to": ("desk@example.org", "risk@example.org"),
    }


@pytest.fixture
def webhook_alerts(webhook, tmp_path) -> AlertsResource:
    """The Dagster resource pointed at the local webhook receiver, state in the test's temp dir."""
    return AlertsResource.from_config(AlertConfig(webhook_url=webhook.url), tmp_path / "alerts" / "alerts.db")
