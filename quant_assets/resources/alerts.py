"""Alerts as a Dagster resource: the channels and limits of ``AlertConfig`` plus where the shared state lives.

Assets and sensors call ``alerts.send(Alert(kind=..., title=..., text=..., fields=...))``; every process
that builds this resource with the same ``state_path`` shares one dedupe window and one hourly limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dagster import ConfigurableResource

from quant_assets.alerts import Alert, AlertConfig, Delivery, Notifier


class AlertsResource(ConfigurableResource):
    state_path: str  # the SQLite file of sent and held alerts, e.g. $QUANT_HOME/alerts/alerts.db
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None  # pass EnvVar("QUANT_ALERT_SMTP_PASSWORD") to keep it out of the UI
    smtp_starttls: bool = False
    email_from: str | None = None
    email_to: list[str] = []
    dedupe_minutes: float = 60.0
    max_per_hour: int = 20

    @classmethod
    def from_config(cls, config: AlertConfig, state_path: str | Path) -> AlertsResource:
        return cls(
            state_path=str(state_path),
            webhook_url=config.webhook_url,
            smtp_host=config.smtp_host,
            smtp_port=config.smtp_port,
            smtp_user=config.smtp_user,
            smtp_password=config.smtp_password,
            smtp_starttls=config.smtp_starttls,
            email_from=config.email_from,
            email_to=list(config.email_to),
            dedupe_minutes=config.dedupe_minutes,
            max_per_hour=config.max_per_hour,
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str], state_path: str | Path) -> AlertsResource:
        """From ``QUANT_ALERT_*`` variables (``Settings.environment``); a bad value names its variable."""
        return cls.from_config(AlertConfig.from_environment(env), state_path)

    def alert_config(self) -> AlertConfig:
        return AlertConfig(
            webhook_url=self.webhook_url,
            smtp_host=self.smtp_host,
            smtp_port=self.smtp_port,
            smtp_user=self.smtp_user,
            smtp_password=self.smtp_password,
            smtp_starttls=self.smtp_starttls,
            email_from=self.email_from,
            email_to=tuple(self.email_to),
            dedupe_minutes=self.dedupe_minutes,
            max_per_hour=self.max_per_hour,
        )

    def notifier(self) -> Notifier:
        return Notifier(self.alert_config(), self.state_path)

    def send(self, alert: Alert) -> Delivery:
        """Send to every configured channel unless held back; a failing channel is recorded, not raised."""
        return self.notifier().send(alert)

    def history(self, limit: int = 50) -> list[Delivery]:
        return self.notifier().history(limit)
