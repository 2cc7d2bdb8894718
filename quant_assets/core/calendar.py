"""The exchange trading calendar (NYSE, via exchange_calendars): which dates are sessions.

Weekends are the easy part; holidays (Good Friday, Juneteenth since 2022) and unscheduled closures
(2001-09-11..14, 2012-10-29/30 for Sandy) are why a weekday test is not enough.
"""

from __future__ import annotations

from functools import lru_cache

import exchange_calendars
import pandas as pd

EXCHANGE = "XNYS"
CALENDAR_START = "1970-01-02"  # the oldest data we know of (see the huge_stock_market data set)


@lru_cache(maxsize=1)
def trading_calendar() -> exchange_calendars.ExchangeCalendar:
    """NYSE sessions from 1970 to about a year ahead of today (cached: building it takes ~0.7 s)."""
    return exchange_calendars.get_calendar(EXCHANGE, start=CALENDAR_START)


def session_flags(dates: pd.Series) -> pd.Series:
    """True where the date is a NYSE session, False where closed, NA outside the calendar's range."""
    calendar = trading_calendar()
    sessions = calendar.sessions.tz_localize(None) if calendar.sessions.tz else calendar.sessions
    normalised = dates.dt.normalize()
    inside = normalised.between(sessions[0], sessions[-1])
    flags = pd.Series(normalised.isin(sessions).to_numpy(), index=dates.index, dtype="boolean")
    return flags.mask(~inside | dates.isna())


def missing_sessions(bars: pd.DataFrame) -> pd.DataFrame:
    """Sessions between each symbol's first and last bar that have no bar: ``symbol, date``.

    Gaps are reported, not repaired: filling a missing day would invent a price.
    """
    calendar = trading_calendar()
    sessions = calendar.sessions.tz_localize(None) if calendar.sessions.tz else calendar.sessions
    frames = []
    for symbol, dates in bars.groupby("symbol", sort=True)["date"]:
        first, last = dates.min(), dates.max()
        expected = sessions[(sessions >= first) & (sessions <= last)]
        missing = expected.difference(pd.DatetimeIndex(dates.unique()))
        if len(missing):
            frames.append(pd.DataFrame({"symbol": symbol, "date": missing}))
    if not frames:
        return pd.DataFrame({"symbol": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]")})
    return pd.concat(frames, ignore_index=True)
