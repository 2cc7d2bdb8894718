"""How old are the features a forecast used? The reference date and the window that flags stale ones.

``QUANT_AS_OF`` picks the reference "now":

- unset (the default): the wall clock, UTC. What a trader expects in production: if the pipeline stops,
  every forecast is flagged after the window, however consistent the store looks internally.
- ``materialized``: the end of the newest Feast materialisation of the feature view (the online store's
  own notion of "filled up to"). For replaying historical data such as the bundled 2018 set: a symbol
  whose features lag the rest of the store is flagged, the store as a whole is not.
- a date (``2018-02-09``): a fixed reference, for reproducible replays and tests.

``QUANT_FEATURE_MAX_AGE_DAYS`` (default 4 calendar days: a weekend plus a market holiday) is the window;
features older than it are flagged ``stale`` in the response, never silently used.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

MATERIALIZED = "materialized"
DEFAULT_MAX_AGE_DAYS = 4


class FeatureClock:
    """Turns a feature event time into an age in calendar days and a stale flag."""

    def __init__(
        self,
        max_age_days: int,
        as_of: str | None,
        materialized_until: Callable[[], dt.datetime | None],
        refresh_seconds: float = 60.0,
    ) -> None:
        if max_age_days < 0:
            raise ValueError(f"QUANT_FEATURE_MAX_AGE_DAYS must be >= 0, got {max_age_days}")
        self.max_age_days = max_age_days
        self.mode = (as_of or "").strip().lower() or "wall-clock"
        self._fixed: dt.date | None = None
        if self.mode not in ("wall-clock", MATERIALIZED):
            try:
                self._fixed = dt.date.fromisoformat(self.mode)
            except ValueError as exc:
                raise ValueError(
                    f"QUANT_AS_OF must be unset, '{MATERIALIZED}' or a date YYYY-MM-DD; got {as_of!r}"
                ) from exc
            self.mode = "fixed"
        self._materialized_until = materialized_until
        self._refresh_seconds = refresh_seconds
        self._cached: tuple[float, dt.date | None] = (-float("inf"), None)

    @classmethod
    def from_env(
        cls, env: dict[str, str], materialized_until: Callable[[], dt.datetime | None]
    ) -> FeatureClock:
        raw_age = env.get("QUANT_FEATURE_MAX_AGE_DAYS", str(DEFAULT_MAX_AGE_DAYS))
        try:
            max_age = int(raw_age)
        except ValueError as exc:
            raise ValueError(
                f"QUANT_FEATURE_MAX_AGE_DAYS must be a whole number of days, got {raw_age!r}"
            ) from exc
        return cls(max_age, env.get("QUANT_AS_OF"), materialized_until)

    def reference_date(self) -> dt.date:
        """The date ages are measured against (UTC)."""
        if self._fixed is not None:
            return self._fixed
        if self.mode == MATERIALIZED:
            stamp, cached = self._cached
            if time.monotonic() - stamp > self._refresh_seconds:
                until = self._materialized_until()
                cached = None if until is None else until.astimezone(dt.UTC).date()
                self._cached = (time.monotonic(), cached)
            if cached is not None:
                return cached
        return dt.datetime.now(dt.UTC).date()

    def judge(self, event_time: dt.datetime | None) -> tuple[int | None, bool, list[str]]:
        """``(age_days, stale, warnings)`` for features stamped ``event_time`` (None: no timestamp)."""
        if event_time is None:
            return None, True, ["the online store gave no event time for these features; treat them as stale"]
        reference = self.reference_date()
        age = (reference - event_time.astimezone(dt.UTC).date()).days
        if age > self.max_age_days:
            return (
                age,
                True,
                [
                    f"features from {event_time.date().isoformat()} are {age} days old at "
                    f"{reference.isoformat()} (freshness window {self.max_age_days} days, "
                    f"reference {self.mode}); the forecast uses outdated data"
                ],
            )
        if age < 0:
            return (
                age,
                False,
                [
                    f"features from {event_time.date().isoformat()} are newer than the reference date "
                    f"{reference.isoformat()} (QUANT_AS_OF={self.mode})"
                ],
            )
        return age, False, []
