"""How an alert reads: Slack-compatible JSON for webhooks, plain text for e-mail.

The webhook body carries ``text`` (the whole alert as plain lines: what Slack shows in notifications and
what any generic receiver can log) and ``blocks`` (Slack's Block Kit: a header, the text, the fields two
columns wide, and a context line). Block Kit's limits are respected so a long message is cut, not refused:
header 150 characters, section text 3,000, at most 10 fields of 2,000 each per section.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from quant_assets.alerts.alert import Alert

SOURCE = "quant-assets"
_MARK = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
_HEADER_MAX, _SECTION_MAX, _FIELD_MAX, _FIELDS_PER_SECTION = 150, 3000, 2000, 10


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plain_text(alert: Alert, at: float) -> str:
    """The alert as readable lines: title, text, aligned fields, then where it came from."""
    lines = [f"[{alert.severity}] {alert.label}: {alert.title}"]
    if alert.text:
        lines += ["", alert.text]
    if alert.fields:
        width = max(len(name) for name in alert.fields)
        lines += [""] + [f"{name.ljust(width)}  {value}" for name, value in alert.fields.items()]
    lines += ["", f"{SOURCE} · {alert.kind} · {timestamp(at)}"]
    return "\n".join(lines)


def slack_payload(alert: Alert, at: float) -> dict:
    """A Slack incoming-webhook body (also accepted by Mattermost and Rocket.Chat)."""
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{alert.label}: {alert.title}", _HEADER_MAX)},
        }
    ]
    if alert.text:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_escape(alert.text), _SECTION_MAX)}}
        )
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{_escape(name)}*\n{_escape(value)}", _FIELD_MAX)}
        for name, value in alert.fields.items()
    ]
    for start in range(0, len(fields), _FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + _FIELDS_PER_SECTION]})
    origin = f"{_MARK[alert.severity]} *{alert.severity}* · {alert.kind} · {SOURCE} · {timestamp(at)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": origin}]})
    return {"text": plain_text(alert, at), "blocks": blocks}


def email_message(alert: Alert, at: float, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[{SOURCE}] {alert.severity}: {alert.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Quant-Alert-Kind"] = alert.kind
    message.set_content(plain_text(alert, at) + "\n")
    return message


def _escape(text: str) -> str:
    """Slack's mrkdwn treats ``&``, ``<`` and ``>`` as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
