"""What an alert is: a kind the platform knows, a one-line title, a short text and a few named figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

# Every event the platform alerts on, with the severity it gets unless the caller says otherwise.
KINDS: dict[str, str] = {
    "risk_limit_breach": "critical",
    "drawdown_stop": "critical",
    "order_rejected": "warning",
    "reconciliation_mismatch": "critical",
    "run_failed": "critical",
    "check_failed": "warning",
    "freshness_failing": "warning",
    "drift_retrain": "info",
    "gate_decision": "info",
}
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    """One event worth a person's attention.

    ``dedupe_key`` names "the same alert": two alerts with one key inside the dedupe window are sent once.
    It defaults to kind and title, so put what changes between distinct events (a run id, a date) in the
    title or give a key. ``fields`` are short named figures shown as a table (values are kept as text).
    An empty ``severity`` takes the kind's default (see ``KINDS``).
    """

    kind: str
    title: str
    text: str = ""
    severity: str = ""
    dedupe_key: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not self.title.strip():
            raise ValueError(f"a {self.kind} alert needs a title")
        severity = self.severity or KINDS[self.kind]
        if severity not in SEVERITIES:
            raise ValueError(
                f"{self.kind} alert {self.title!r}: severity {self.severity!r} is not one of "
                f"{', '.join(SEVERITIES)}"
            )
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "dedupe_key", self.dedupe_key or f"{self.kind}:{self.title}")
        object.__setattr__(self, "fields", {str(k): _as_text(v) for k, v in self.fields.items()})

    @property
    def label(self) -> str:
        """The kind in words: ``risk_limit_breach`` -> ``Risk limit breach``."""
        return self.kind.replace("_", " ").capitalize()


def _as_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)
