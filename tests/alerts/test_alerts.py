"""Alerts reach a real HTTP receiver and a real SMTP server, once per dedupe window, within the hourly limit,
and a broken channel never breaks the caller or the other channel."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from quant_assets.alerts import Alert, AlertConfig, Notifier
from quant_assets.alerts.render import slack_payload
from quant_assets.resources.alerts import AlertsResource

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def breach(title: str = "gross exposure 1.42 > limit 1.20", **overrides) -> Alert:
    values = {
        "kind": "risk_limit_breach",
        "title": title,
        "text": "Orders were held back: the target book is over its gross exposure limit.",
        "fields": {"limit": 1.2, "gross exposure": 1.42, "book": "paper"},
    }
    return Alert(**{**values, **overrides})


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- what arrives ---------------------------------------------------------------------------------------


def test_webhook_receives_slack_compatible_json(webhook, tmp_path):
    delivery = Notifier(AlertConfig(webhook_url=webhook.url), tmp_path / "a.db", clock=Clock()).send(breach())

    assert delivery.status == "sent" and delivery.delivered == ("webhook",)
    [post] = webhook.posts
    assert post["path"] == "/hooks/alerts" and post["content_type"] == "application/json"
    body = post["body"]
    # ``text``: the whole alert in plain lines, for notifications and for receivers that ignore blocks.
    assert body["text"].splitlines()[0] == "[critical] Risk limit breach: gross exposure 1.42 > limit 1.20"
    assert "Orders were held back" in body["text"]
    assert "gross exposure  1.42" in body["text"] and "limit           1.2" in body["text"]
    assert "2026-01-01 00:00:00 UTC" in body["text"]
    header, text, fields, context = body["blocks"]
    # plain_text is not mrkdwn: no escaping in the header.
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Risk limit breach: gross exposure 1.42 > limit 1.20"},
    }
    assert text["text"] == {
        "type": "mrkdwn",
        "text": "Orders were held back: the target book is over its gross exposure limit.",
    }
    assert fields["fields"] == [
        {"type": "mrkdwn", "text": "*limit*\n1.2"},
        {"type": "mrkdwn", "text": "*gross exposure*\n1.42"},
        {"type": "mrkdwn", "text": "*book*\npaper"},
    ]
    assert context["type"] == "context" and "*critical*" in context["elements"][0]["text"]


def test_slack_limits_are_kept_for_long_alerts():
    alert = breach(
        title="t" * 400, text="x < y & " * 1000, fields={f"limit {i}": "v" * 3000 for i in range(23)}
    )
    blocks = slack_payload(alert, T0)["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000 and "&lt;" in blocks[1]["text"]["text"]
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 3]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])


def test_email_is_plain_text_to_every_recipient(smtp, email, tmp_path):
    delivery = Notifier(AlertConfig(**email), tmp_path / "a.db", clock=Clock()).send(breach())

    assert delivery.status == "sent" and delivery.delivered == ("email",)
    [message] = smtp.messages
    assert smtp.envelopes == [("quant@example.org", ["desk@example.org", "risk@example.org"])]
    assert message["Subject"] == "[quant-assets] critical: gross exposure 1.42 > limit 1.20"
    assert message["From"] == "quant@example.org"
    assert message["To"] == "desk@example.org, risk@example.org"
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # SMTP carries CRLF line ends
    assert body.startswith("[critical] Risk limit breach: gross exposure 1.42 > limit 1.20\n")
    assert "Orders were held back" in body
    assert "gross exposure  1.42\n" in body and "book            paper\n" in body


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_logs_in_when_a_user_is_configured(smtp_with_login, tmp_path):
    config = AlertConfig(
        smtp_host=smtp_with_login.host,
        smtp_port=smtp_with_login.port,
        smtp_user="alerts",
        smtp_password="s3cret",
        email_from="quant@example.org",
        email_to=("desk@example.org",),
    )
    assert Notifier(config, tmp_path / "a.db").send(breach()).status == "sent"
    assert smtp_with_login.logins == [("alerts", "s3cret")] and len(smtp_with_login.messages) == 1

    wrong = AlertConfig(**{**config.__dict__, "smtp_password": "guess"})
    delivery = Notifier(wrong, tmp_path / "b.db").send(breach())
    assert delivery.status == "failed" and "SMTPAuthenticationError" in delivery.failed["email"]
    assert len(smtp_with_login.messages) == 1


def test_both_channels_get_the_alert_and_history_records_it(webhook, smtp, email, tmp_path):
    notifier = Notifier(AlertConfig(webhook_url=webhook.url, **email), tmp_path / "a.db", clock=Clock())
    delivery = notifier.send(breach())

    assert delivery.status == "sent" and delivery.delivered == ("webhook", "email")
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
    [recorded] = notifier.history()
    assert recorded.status == "sent" and recorded.delivered == ("webhook", "email")
    assert recorded.alert == breach() and recorded.at == T0 and recorded.id == delivery.id


# -- dedupe and rate limit ----------------------------------------------------------------------------------


def test_same_key_is_sent_once_per_window_then_again_after_it(webhook, tmp_path):
    clock = Clock()
    notifier = Notifier(
        AlertConfig(webhook_url=webhook.url, dedupe_minutes=60), tmp_path / "a.db", clock=clock
    )
    assert notifier.send(breach()).status == "sent"

    clock.now = T0 + 59 * 60
    held = notifier.send(breach(text="a second look at the same breach"))
    assert held.status == "suppressed" and not held.sent
    assert held.suppressed == "duplicate of an alert sent at 2026-01-01 00:00:00 UTC (dedupe window 60 min)"
    # A different key is not a duplicate.
    assert notifier.send(breach(title="net exposure 0.9 > limit 0.8")).status == "sent"
    assert len(webhook.posts) == 2

    clock.now = T0 + 61 * 60
    assert notifier.send(breach()).status == "sent"
    assert [body["blocks"][0]["text"]["text"] for body in webhook.bodies] == [
        "Risk limit breach: gross exposure 1.42 > limit 1.20",
        "Risk limit breach: net exposure 0.9 > limit 0.8",
        "Risk limit breach: gross exposure 1.42 > limit 1.20",
    ]
    assert [d.status for d in notifier.history()] == ["sent", "sent", "suppressed", "sent"]


def test_dedupe_key_can_be_given(webhook, tmp_path):
    notifier = Notifier(AlertConfig(webhook_url=webhook.url), tmp_path / "a.db")
    notifier.send(breach(title="AAPL order rejected", kind="order_rejected", dedupe_key="order:42"))
    again = notifier.send(
        breach(title="AAPL order rejected (retry)", kind="order_rejected", dedupe_key="order:42")
    )
    assert again.status == "suppressed" and len(webhook.posts) == 1


def test_rate_limit_holds_alerts_over_the_hourly_maximum(webhook, tmp_path):
    clock = Clock()
    notifier = Notifier(AlertConfig(webhook_url=webhook.url, max_per_hour=3), tmp_path / "a.db", clock=clock)
    outcomes = []
    for minute in range(5):
        clock.now = T0 + minute * 60
        outcomes.append(notifier.send(breach(title=f"breach {minute}")))

    assert [o.status for o in outcomes] == ["sent", "sent", "sent", "suppressed", "suppressed"]
    assert outcomes[3].suppressed.startswith("rate limit 3 per hour")
    assert len(webhook.posts) == 3
    # An hour after the first one, there is room for one more.
    clock.now = T0 + 60 * 60 + 1
    assert notifier.send(breach(title="breach 5")).status == "sent"
    assert len(webhook.posts) == 4


def test_two_notifiers_on_one_state_file_share_dedupe_and_limit(webhook, tmp_path):
    config = AlertConfig(webhook_url=webhook.url, max_per_hour=2)
    sensor_side, run_side = Notifier(config, tmp_path / "a.db"), Notifier(config, tmp_path / "a.db")

    assert sensor_side.send(breach()).status == "sent"
    assert run_side.send(breach()).status == "suppressed"
    assert run_side.send(breach(title="another")).status == "sent"
    assert sensor_side.send(breach(title="a third")).suppressed.startswith("rate limit 2 per hour")
    assert len(webhook.posts) == 2
    assert len(sensor_side.history()) == len(run_side.history()) == 4


def _send_when_told(config: AlertConfig, state_path, go, results) -> None:
    go.wait(10)
    results.put(Notifier(config, state_path).send(breach()).status)


def test_processes_racing_with_the_same_alert_send_it_once(webhook, tmp_path):
    """Sensors and runs are separate processes: the decision is one SQLite transaction across them."""
    config = AlertConfig(webhook_url=webhook.url)
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_send_when_told, args=(config, tmp_path / "a.db", go, results))
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    go.set()
    statuses = sorted(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)

    assert statuses == ["sent"] + ["suppressed"] * 5
    assert len(webhook.posts) == 1


# -- failures -----------------------------------------------------------------------------------------------


def test_dead_webhook_does_not_stop_the_email_nor_raise(dead_url, smtp, email, tmp_path, caplog):
    notifier = Notifier(AlertConfig(webhook_url=dead_url, **email), tmp_path / "a.db")
    with caplog.at_level(logging.WARNING, logger="quant_assets.alerts"):
        delivery = notifier.send(breach())

    assert delivery.status == "partial" and delivery.delivered == ("email",)
    assert "ConnectError" in delivery.failed["webhook"]
    assert len(smtp.messages) == 1
    assert "webhook channel failed" in caplog.text
    [recorded] = notifier.history()
    assert recorded.status == "partial" and recorded.failed == delivery.failed


def test_an_alert_no_channel_took_is_tried_again(dead_url, tmp_path):
    notifier = Notifier(AlertConfig(webhook_url=dead_url), tmp_path / "a.db")
    first, second = notifier.send(breach()), notifier.send(breach())
    assert first.status == second.status == "failed"  # not "suppressed": nobody has seen it yet


def test_webhook_retries_server_errors_but_not_client_errors(webhook, tmp_path):
    webhook.statuses = [503, 502]
    delivery = Notifier(AlertConfig(webhook_url=webhook.url), tmp_path / "a.db").send(breach())
    assert delivery.status == "sent" and webhook.requests_seen == 3 and len(webhook.posts) == 1

    webhook.statuses = [400]
    rejected = Notifier(AlertConfig(webhook_url=webhook.url), tmp_path / "b.db").send(breach())
    assert rejected.status == "failed" and webhook.requests_seen == 4
    assert "HTTP 400: receiver says no" in rejected.failed["webhook"]


def test_starttls_against_a_server_without_it_is_recorded_not_raised(smtp, email, tmp_path):
    delivery = Notifier(AlertConfig(**email, smtp_starttls=True), tmp_path / "a.db").send(breach())
    assert delivery.status == "failed" and "STARTTLS" in delivery.failed["email"]
    assert smtp.messages == []


def test_without_channels_the_alert_is_logged_and_recorded(tmp_path, caplog):
    notifier = Notifier(AlertConfig(), tmp_path / "a.db")
    with caplog.at_level(logging.WARNING, logger="quant_assets.alerts"):
        delivery = notifier.send(breach())

    assert delivery.status == "logged" and delivery.delivered == ()
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "gross exposure 1.42 > limit 1.20" in record.getMessage()
    assert notifier.history()[0].status == "logged"
    assert notifier.send(breach()).status == "suppressed"  # logs are deduplicated too


def test_an_unusable_state_file_is_an_error_naming_it(tmp_path):
    """Unlike a channel, the state is the platform's own: a path that cannot hold it is an error."""
    with pytest.raises(RuntimeError, match=f"alert state {tmp_path}: unable to open database file"):
        Notifier(AlertConfig(), tmp_path)  # a directory, not a file


# -- alerts and configuration -------------------------------------------------------------------------------


def test_alert_defaults_and_validation():
    alert = Alert(kind="gate_decision", title="challenger v3 promoted", fields={"ratio": 0.912345678, "v": 3})
    assert alert.severity == "info" and alert.dedupe_key == "gate_decision:challenger v3 promoted"
    assert alert.fields == {"ratio": "0.912346", "v": "3"}
    with pytest.raises(ValueError, match="unknown alert kind 'risk_breach'"):
        Alert(kind="risk_breach", title="x")
    with pytest.raises(ValueError, match="severity 'fatal'"):
        Alert(kind="run_failed", title="x", severity="fatal")
    with pytest.raises(ValueError, match="needs a title"):
        Alert(kind="run_failed", title=" ")


def test_config_from_environment_reads_every_variable():
    config = AlertConfig.from_environment(
        {
            "QUANT_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
            "QUANT_ALERT_SMTP_HOST": "smtp.example.org",
            "QUANT_ALERT_SMTP_PORT": "587",
            "QUANT_ALERT_SMTP_USER": "alerts",
            "QUANT_ALERT_SMTP_PASSWORD": "s3cret",
            "QUANT_ALERT_SMTP_STARTTLS": "true",
            "QUANT_ALERT_EMAIL_FROM": "quant@example.org",
            "QUANT_ALERT_EMAIL_TO": "desk@example.org, risk@example.org,",
            "QUANT_ALERT_DEDUPE_MINUTES": "15",
            "QUANT_ALERT_MAX_PER_HOUR": "5",
        }
    )
    assert config == AlertConfig(
        webhook_url="https://hooks.slack.com/services/T0/B0/x",
        smtp_host="smtp.example.org",
        smtp_port=587,
        smtp_user="alerts",
        smtp_password="s3cret",
        smtp_starttls=True,
        email_from="quant@example.org",
        email_to=("desk@example.org", "risk@example.org"),
        dedupe_minutes=15,
        max_per_hour=5,
    )
    assert config.channels == ("webhook", "email")
    assert "s3cret" not in repr(config)


def test_config_defaults_have_no_channel():
    config = AlertConfig.from_environment({})
    assert config.channels == () and config.smtp_port == 25 and config.smtp_starttls is False
    assert config.dedupe_minutes == 60 and config.max_per_hour == 20


MAIL = {"QUANT_ALERT_SMTP_HOST": "smtp.example.org", "QUANT_ALERT_EMAIL_FROM": "q@example.org"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"QUANT_ALERT_WEBHOOK_URL": "hooks.slack.com/x"}, "QUANT_ALERT_WEBHOOK_URL"),
        ({**MAIL, "QUANT_ALERT_EMAIL_TO": "a@b.c", "QUANT_ALERT_SMTP_PORT": "smtp"}, "QUANT_ALERT_SMTP_PORT"),
        (
            {**MAIL, "QUANT_ALERT_EMAIL_TO": "a@b.c", "QUANT_ALERT_SMTP_PORT": "70000"},
            "QUANT_ALERT_SMTP_PORT",
        ),
        ({"QUANT_ALERT_SMTP_STARTTLS": "maybe"}, "QUANT_ALERT_SMTP_STARTTLS"),
        ({"QUANT_ALERT_DEDUPE_MINUTES": "-5"}, "QUANT_ALERT_DEDUPE_MINUTES"),
        ({"QUANT_ALERT_DEDUPE_MINUTES": "nan"}, "QUANT_ALERT_DEDUPE_MINUTES"),
        ({"QUANT_ALERT_MAX_PER_HOUR": "0"}, "QUANT_ALERT_MAX_PER_HOUR"),
        ({"QUANT_ALERT_MAX_PER_HOUR": "2.5"}, "QUANT_ALERT_MAX_PER_HOUR"),
        ({**MAIL, "QUANT_ALERT_EMAIL_TO": "desk"}, "QUANT_ALERT_EMAIL_TO"),
        (MAIL, "QUANT_ALERT_EMAIL_TO"),
        ({"QUANT_ALERT_EMAIL_TO": "desk@example.org"}, "QUANT_ALERT_SMTP_HOST"),
        (
            {"QUANT_ALERT_SMTP_HOST": "smtp.example.org", "QUANT_ALERT_EMAIL_TO": "a@b.c"},
            "QUANT_ALERT_EMAIL_FROM",
        ),
        (
            {**MAIL, "QUANT_ALERT_EMAIL_TO": "a@b.c", "QUANT_ALERT_SMTP_USER": "me"},
            "QUANT_ALERT_SMTP_PASSWORD",
        ),
    ],
)
def test_bad_configuration_names_the_variable(env, variable):
    with pytest.raises(ValueError, match=variable):
        AlertConfig.from_environment(env)


def test_resource_sends_with_the_call_shape_assets_use(webhook, tmp_path):
    alerts = AlertsResource.from_environment({"QUANT_ALERT_WEBHOOK_URL": webhook.url}, tmp_path / "alerts.db")
    delivery = alerts.send(
        Alert(
            kind="risk_limit_breach", title="AAPL weight 0.31 > 0.25", text="trimmed", fields={"max": "0.25"}
        )
    )
    assert delivery.status == "sent" and webhook.bodies[0]["blocks"][2]["fields"][0]["text"] == "*max*\n0.25"
    assert alerts.history(1)[0].alert.title == "AAPL weight 0.31 > 0.25"
