"""Alerts: one module, two channels (a Slack-compatible webhook and SMTP e-mail), deduplicated and
rate-limited across processes. No Dagster here: resources/alerts.py and automation/alert_sensors.py wrap it.

    notifier = Notifier(AlertConfig.from_environment(settings.environment), home / "alerts" / "alerts.db")
    notifier.send(Alert(kind="risk_limit_breach", title="gross exposure 1.4 > 1.2", fields={"limit": "1.2"}))
"""

from quant_assets.alerts.alert import KINDS, SEVERITIES, Alert
from quant_assets.alerts.channels import EmailChannel, WebhookChannel, WebhookError
from quant_assets.alerts.config import AlertConfig
from quant_assets.alerts.notifier import Delivery, Notifier

__all__ = [
    "KINDS",
    "SEVERITIES",
    "Alert",
    "AlertConfig",
    "Delivery",
    "EmailChannel",
    "Notifier",
    "WebhookChannel",
    "WebhookError",
]
