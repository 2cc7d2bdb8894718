"""Where alerts go and how many may go, read from a mapping of ``QUANT_ALERT_*`` variables.

Nothing here reads ``os.environ``: settings collect the variables, and this module parses a mapping, so a
bad value fails at load time with the variable's name rather than at the first alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

WEBHOOK_URL = "QUANT_ALERT_WEBHOOK_URL"
SMTP_HOST = "QUANT_ALERT_SMTP_HOST"
SMTP_PORT = "QUANT_ALERT_SMTP_PORT"
SMTP_USER = "QUANT_ALERT_SMTP_USER"
SMTP_PASSWORD = "QUANT_ALERT_SMTP_PASSWORD"
SMTP_STARTTLS = "QUANT_ALERT_SMTP_STARTTLS"
EMAIL_FROM = "QUANT_ALERT_EMAIL_FROM"
EMAIL_TO = "QUANT_ALERT_EMAIL_TO"
DEDUPE_MINUTES = "QUANT_ALERT_DEDUPE_MINUTES"
MAX_PER_HOUR = "QUANT_ALERT_MAX_PER_HOUR"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class AlertConfig:
    """Channels (a webhook, e-mail, both or none) and the limits shared by every process.

    With no channel an alert is only logged and recorded. ``dedupe_minutes`` 0 turns deduplication off;
    ``max_per_hour`` counts every alert handed to a channel in the last 60 minutes, across processes.
    """

    webhook_url: str | None = None
    webhook_timeout_seconds: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    smtp_timeout_seconds: float = 10.0
    dedupe_minutes: float = 60.0
    max_per_hour: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "email_to", tuple(self.email_to))
        if self.webhook_url is not None and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"{WEBHOOK_URL} must be an http(s) URL, got {self.webhook_url!r}")
        if not 0 < self.smtp_port < 65536:
            raise ValueError(f"{SMTP_PORT} must be a TCP port (1-65535), got {self.smtp_port}")
        if not (math.isfinite(self.dedupe_minutes) and self.dedupe_minutes >= 0):
            raise ValueError(
                f"{DEDUPE_MINUTES} must be >= 0 (0: no deduplication), got {self.dedupe_minutes}"
            )
        if self.max_per_hour < 1:
            raise ValueError(f"{MAX_PER_HOUR} must be >= 1, got {self.max_per_hour}")
        if (self.smtp_user is None) != (self.smtp_password is None):
            raise ValueError(f"{SMTP_USER} and {SMTP_PASSWORD} must be set together (SMTP login needs both)")
        for address in self.email_to:
            if "@" not in address:
                raise ValueError(f"{EMAIL_TO}: {address!r} is not an e-mail address")
        if self.smtp_host:
            if not self.email_to:
                raise ValueError(f"{SMTP_HOST} is set but {EMAIL_TO} names no recipient")
            if not self.email_from or "@" not in self.email_from:
                raise ValueError(
                    f"{SMTP_HOST} is set but {EMAIL_FROM} is {self.email_from!r}: give the sender's address"
                )
        elif self.email_to:
            raise ValueError(f"{EMAIL_TO} is set but {SMTP_HOST} is not: e-mail needs an SMTP server")

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels' names, in the order they are tried."""
        return tuple(
            name for name, on in (("webhook", bool(self.webhook_url)), ("email", bool(self.smtp_host))) if on
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> AlertConfig:
        """Parse ``QUANT_ALERT_*`` from ``env``; unset or blank variables take the defaults."""

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            webhook_url=text(WEBHOOK_URL),
            smtp_host=text(SMTP_HOST),
            smtp_port=_int(env, SMTP_PORT, 25),
            smtp_user=text(SMTP_USER),
            smtp_password=env.get(SMTP_PASSWORD) or None,  # a password may begin or end with a space
            smtp_starttls=_flag(env, SMTP_STARTTLS),
            email_from=text(EMAIL_FROM),
            email_to=tuple(a.strip() for a in env.get(EMAIL_TO, "").split(",") if a.strip()),
            dedupe_minutes=_float(env, DEDUPE_MINUTES, 60.0),
            max_per_hour=_int(env, MAX_PER_HOUR, 20),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {env[name]!r}")
