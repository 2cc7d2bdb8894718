"""The two ways out: an HTTP webhook and SMTP e-mail. Each ``deliver`` raises on failure; the notifier
decides what a failure means (it is logged and recorded, never passed to the caller)."""

from __future__ import annotations

import smtplib
import ssl
from typing import Protocol

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from quant_assets.alerts.alert import Alert
from quant_assets.alerts.render import email_message, slack_payload


class Channel(Protocol):
    name: str

    def deliver(self, alert: Alert, at: float) -> None: ...


class WebhookError(RuntimeError):
    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"webhook {url} answered HTTP {status}: {body[:200]}")
        self.status = status


def _transient(error: BaseException) -> bool:
    """Worth another try: the receiver was unreachable or slow, busy (429) or broken for a moment (5xx)."""
    if isinstance(error, WebhookError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, httpx.TransportError)


class WebhookChannel:
    """POSTs Slack-compatible JSON; retries connection errors, timeouts, 429 and 5xx (``attempts`` in all)."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = 10.0, attempts: int = 3, backoff_seconds: float = 0.5):
        self.url = url
        self.timeout = timeout
        self._post = retry(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=backoff_seconds, max=10 * backoff_seconds),
            reraise=True,
        )(self._post_once)

    def deliver(self, alert: Alert, at: float) -> None:
        self._post(slack_payload(alert, at))

    def _post_once(self, payload: dict) -> None:
        response = httpx.post(self.url, json=payload, timeout=self.timeout)
        if response.status_code >= 300:
            raise WebhookError(self.url, response.status_code, response.text)


class EmailChannel:
    """Plain-text e-mail through an SMTP server, with STARTTLS and login when configured."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ):
        self.host, self.port, self.sender, self.recipients = host, port, sender, tuple(recipients)
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def deliver(self, alert: Alert, at: float) -> None:
        message = email_message(alert, at, self.sender, self.recipients)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username is not None and self.password is not None:
                smtp.login(self.username, self.password)
            refused = smtp.send_message(message)
        if refused:  # every recipient refused raises above; this is a partial refusal
            raise RuntimeError(
                f"SMTP {self.host}:{self.port} delivered the alert but refused {', '.join(sorted(refused))}"
            )
