"""Risk limits as data: one YAML file (``risk_limits.yaml``; ``QUANT_RISK_LIMITS`` names another).

Every field has a documented default; a file only needs the ones it changes. A bad value is an error
naming the key and the file, never a silent default. What each limit does:

- ``max_weight``: no name's target weight above it;
- ``min_names``: at least this many names held (a portfolio the drawdown stop moved to cash is exempt);
- ``max_var_95_1d``: historical 1-day VaR at 95 % of the targets on past returns (``core.risk``);
- ``max_turnover``: one rebalance trades at most ``sum |target - current| / 2`` of the portfolio;
- ``drawdown_stop``: when equity falls ``max_drawdown`` below its peak, targets are scaled to
  ``target_fraction`` for ``recovery_days`` market days, then trading resumes from a reset peak;
- ``stop_loss``: a held name down ``from_entry`` from its entry price or ``from_high`` from its highest
  close since entry is sold and not bought again for ``cooldown_days`` market days;
- ``never_trade``: symbols never bought; held ones are sold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml


class RiskLimitsError(ValueError):
    """A risk-limits file that cannot be used, naming the file and the key."""


@dataclass(frozen=True)
class DrawdownStop:
    max_drawdown: float = 0.15
    target_fraction: float = 0.0
    recovery_days: int = 21


@dataclass(frozen=True)
class StopLoss:
    from_entry: float = 0.15
    from_high: float = 0.25
    cooldown_days: int = 10


@dataclass(frozen=True)
class RiskLimits:
    max_weight: float = 0.10
    min_names: int = 5
    max_var_95_1d: float = 0.04
    max_turnover: float = 0.60
    drawdown_stop: DrawdownStop = field(default_factory=DrawdownStop)
    stop_loss: StopLoss = field(default_factory=StopLoss)
    never_trade: frozenset[str] = frozenset()


_FRACTIONS = {  # key -> (low, high, low inclusive)
    "max_weight": (0.0, 1.0, False),
    "max_var_95_1d": (0.0, 1.0, False),
    "max_turnover": (0.0, 1.0, False),
    "drawdown_stop.max_drawdown": (0.0, 1.0, False),
    "drawdown_stop.target_fraction": (0.0, 1.0, True),
    "stop_loss.from_entry": (0.0, 1.0, False),
    "stop_loss.from_high": (0.0, 1.0, False),
}
_COUNTS = {"min_names": 1, "drawdown_stop.recovery_days": 1, "stop_loss.cooldown_days": 0}


def _fraction(where: str, key: str, value: object) -> float:
    low, high, inclusive = _FRACTIONS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RiskLimitsError(f"{where}: {key} must be a number, got {value!r}")
    if not ((low <= value if inclusive else low < value) and value <= high):
        bracket = "[" if inclusive else "("
        raise RiskLimitsError(f"{where}: {key} must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


def _count(where: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < _COUNTS[key]:
        raise RiskLimitsError(f"{where}: {key} must be a whole number >= {_COUNTS[key]}, got {value!r}")
    return value


def _section(where: str, prefix: str, cls: type, raw: object) -> object:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise RiskLimitsError(f"{where}: {prefix} must be a mapping of its settings, got {raw!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RiskLimitsError(f"{where}: unknown key(s) {', '.join(f'{prefix}.{k}' for k in unknown)}; "
                              f"known: {', '.join(sorted(known))}")  # fmt: skip
    values = {}
    for key, value in raw.items():
        full = f"{prefix}.{key}"
        values[key] = _count(where, full, value) if full in _COUNTS else _fraction(where, full, value)
    return cls(**values)


def parse_risk_limits(raw: object, where: str = "risk limits") -> RiskLimits:
    """Limits from a parsed YAML mapping (``where`` names the source in errors)."""
    if raw is None:
        return RiskLimits()
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise RiskLimitsError(f"{where}: expected a mapping of limit names to values, got {kind}")
    known = {f.name for f in fields(RiskLimits)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RiskLimitsError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key == "drawdown_stop":
            values[key] = _section(where, key, DrawdownStop, value)
        elif key == "stop_loss":
            values[key] = _section(where, key, StopLoss, value)
        elif key == "never_trade":
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
                raise RiskLimitsError(f"{where}: never_trade must be a list of symbols, got {value!r}")
            values[key] = frozenset(s.strip().upper() for s in value)
        elif key in _COUNTS:
            values[key] = _count(where, key, value)
        else:
            values[key] = _fraction(where, key, value)
    return RiskLimits(**values)


def load_risk_limits(path: str | Path) -> RiskLimits:
    """Read and check a risk-limits YAML file."""
    path = Path(path)
    if not path.exists():
        raise RiskLimitsError(f"risk limits file {path} does not exist (QUANT_RISK_LIMITS)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RiskLimitsError(f"{path}: not valid YAML: {error}") from error
    return parse_risk_limits(raw, str(path))
