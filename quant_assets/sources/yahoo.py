"""Yahoo Finance daily bars through the public chart API (plain HTTP, no scraping library).

A polite client: a timeout on every request, at most one request per ``min_interval_s`` (rate limit),
and retries with exponential backoff and jitter (tenacity) on the failures that pass: HTTP 429, 5xx and
network errors. A 4xx other than 429 (unknown symbol) fails at once with Yahoo's own message.

Yahoo's prices are split-adjusted (its dividends too); we turn them back into prices as traded, with
the splits and dividends as corporate actions, so every source stores the same thing: raw bars plus
actions, adjusted by :mod:`quant_assets.core.corporate_actions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np
import pandas as pd
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from quant_assets.core.corporate_actions import undo_split_adjustment
from quant_assets.sources.layouts import EXCHANGE_TIMEZONE, ParsedFile, empty_actions

BASE_URL = "https://query1.finance.yahoo.com"
USER_AGENT = "quant-assets/0.1 (+https://github.com/quant-assets)"


class YahooError(RuntimeError):
    """Yahoo answered, but not with bars; the message says what it said."""


class YahooRetryableError(YahooError):
    """A failure worth retrying: rate limited (429) or a server error (5xx)."""


@dataclass
class YahooClient:
    """Chart API client. Inject ``http`` (an ``httpx.Client``) and ``sleep`` to test without network."""

    http: httpx.Client = field(default_factory=lambda: httpx.Client(headers={"User-Agent": USER_AGENT}))
    base_url: str = BASE_URL
    timeout_s: float = 10.0
    max_attempts: int = 5
    min_interval_s: float = 0.5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    requests_made: int = 0
    _last_request_at: float | None = None

    def _throttle(self) -> None:
        if self._last_request_at is not None:
            wait = self.min_interval_s - (self.clock() - self._last_request_at)
            if wait > 0:
                self.sleep(wait)
        self._last_request_at = self.clock()

    def _get_once(self, symbol: str, params: dict[str, str]) -> dict:
        self._throttle()
        self.requests_made += 1
        response = self.http.get(
            f"{self.base_url}/v8/finance/chart/{symbol}", params=params, timeout=self.timeout_s
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise YahooRetryableError(
                f"Yahoo {symbol}: HTTP {response.status_code} {response.text.strip()[:120]!r}"
            )
        try:
            payload = response.json()
        except ValueError as error:
            raise YahooError(
                f"Yahoo {symbol}: HTTP {response.status_code}, not JSON: {response.text.strip()[:120]!r}"
            ) from error
        chart = payload.get("chart") or {}
        if response.status_code >= 400 or chart.get("error"):
            error = chart.get("error") or {}
            raise YahooError(
                f"Yahoo {symbol}: HTTP {response.status_code} {error.get('code', '')}: "
                f"{error.get('description', response.text.strip()[:120])}"
            )
        return payload

    def chart(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> dict:
        """The raw chart JSON for daily bars in [start, end], with dividend and split events."""
        params = {
            "period1": str(int(pd.Timestamp(start, tz="UTC").timestamp())),
            "period2": str(int((pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)).timestamp())),
            "interval": "1d",
            "events": "div|split",
            "includeAdjustedClose": "true",
        }
        retrying = Retrying(
            retry=retry_if_exception_type((YahooRetryableError, httpx.TransportError)),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(initial=self.backoff_initial_s, max=self.backoff_max_s),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._get_once, symbol, params)

    def history(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> ParsedFile:
        """Raw (as traded) daily bars and corporate actions for ``symbol``."""
        return chart_to_bars(self.chart(symbol, start, end), symbol)


def _event_frame(events: dict, kind: str, symbol: str) -> pd.DataFrame:
    rows = []
    for event in (events.get(kind) or {}).values():
        date = pd.Timestamp(event["date"], unit="s", tz="UTC").tz_convert(EXCHANGE_TIMEZONE)
        if kind == "dividends":
            value = float(event["amount"])
        else:
            value = float(event["numerator"]) / float(event["denominator"])
        rows.append(
            (
                symbol,
                date.tz_localize(None).normalize(),
                "dividend" if kind == "dividends" else "split",
                value,
            )
        )
    return pd.DataFrame(rows, columns=["symbol", "date", "action", "value"])


def chart_to_bars(payload: dict, symbol: str) -> ParsedFile:
    """Chart JSON -> ParsedFile with prices as traded; nulls (days Yahoo has no price for) stay NaN."""
    results = (payload.get("chart") or {}).get("result") or []
    if not results:
        raise YahooError(f"Yahoo {symbol}: the answer holds no result")
    result = results[0]
    timestamps = result.get("timestamp") or []
    quote = (result.get("indicators", {}).get("quote") or [{}])[0]
    dates = (
        pd.to_datetime(pd.Series(timestamps, dtype="int64"), unit="s", utc=True)
        .dt.tz_convert(EXCHANGE_TIMEZONE)
        .dt.tz_localize(None)
        .dt.normalize()
    )
    bars = pd.DataFrame(
        {
            "symbol": symbol,
            "date": dates.astype("datetime64[ns]"),
            **{
                c: pd.to_numeric(pd.Series(quote.get(c, [None] * len(timestamps)), dtype=object)).astype(
                    float
                )
                for c in ("open", "high", "low", "close", "volume")
            },
            "source": f"yahoo:{symbol}",
            "line": np.arange(1, len(timestamps) + 1, dtype=np.int64),
            "unparsed": "",
        }
    )
    events = result.get("events") or {}
    frames = [
        f
        for f in (_event_frame(events, "dividends", symbol), _event_frame(events, "splits", symbol))
        if len(f)
    ]
    actions = pd.concat(frames, ignore_index=True) if frames else empty_actions()
    bars, actions = undo_split_adjustment(bars, actions)
    return ParsedFile(f"yahoo:{symbol}", "yahoo-chart", bars, actions)
