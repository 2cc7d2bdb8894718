"""The Yahoo client against recorded answers (tests/fixtures/yahoo): parsing, retries, rate limit.

Only the internet boundary is replaced: an httpx transport that answers from the fixture files.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from quant_assets.sources.layouts import read_bar_file
from quant_assets.sources.yahoo import YahooClient, YahooError, YahooRetryableError, chart_to_bars

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHART = (FIXTURES / "yahoo" / "CALM_chart_2024.json").read_bytes()
START, END = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-08-21")


def recorded(name: str, status: int, content_type: str) -> httpx.Response:
    return httpx.Response(
        status, content=(FIXTURES / "yahoo" / name).read_bytes(), headers={"content-type": content_type}
    )


class Replay:
    """Answers requests in order from a script of responses (or exceptions), recording each request."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client_for(replay: Replay, time: FakeTime, **options) -> YahooClient:
    return YahooClient(
        http=httpx.Client(transport=httpx.MockTransport(replay)),
        sleep=time.sleep,
        clock=time.clock,
        **options,
    )


def ok() -> httpx.Response:
    return httpx.Response(200, content=CHART, headers={"content-type": "application/json"})


def test_chart_answer_becomes_the_same_bars_and_dividends_as_the_yfinance_export():
    parsed = chart_to_bars(json.loads(CHART), "CALM")
    export = read_bar_file(FIXTURES / "bars" / "CALM-1d-no-bad-divs.csv")
    expected = export.bars[export.bars["date"] >= "2024-01-01"].reset_index(drop=True)
    assert parsed.bars["date"].tolist() == expected["date"].tolist()  # 09:30 New York -> that trading date
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(parsed.bars[column], expected[column], rtol=1e-6)
    dividends = export.actions[export.actions["date"] >= "2024-01-01"].reset_index(drop=True)
    assert parsed.actions[["date", "value"]].values.tolist() == dividends[["date", "value"]].values.tolist()


def test_rate_limit_and_server_error_are_retried_with_backoff():
    replay = Replay(
        recorded("rate_limited_429.txt", 429, "text/plain"),
        recorded("server_error_502.html", 502, "text/html"),
        ok(),
    )
    time = FakeTime()
    parsed = client_for(replay, time).history("CALM", START, END)
    assert len(parsed.bars) == 161 and len(replay.requests) == 3
    assert 1.0 <= time.sleeps[0] <= 2.0 and 2.0 <= time.sleeps[1] <= 3.0  # exponential, with jitter
    query = replay.requests[0].url.params
    assert query["interval"] == "1d" and query["events"] == "div|split"
    assert replay.requests[0].url.path == "/v8/finance/chart/CALM"


def test_gives_up_after_max_attempts_with_yahoos_message():
    replay = Replay(*[recorded("rate_limited_429.txt", 429, "text/plain") for _ in range(3)])
    with pytest.raises(YahooRetryableError, match="HTTP 429 'Too Many Requests'"):
        client_for(replay, FakeTime(), max_attempts=3).history("CALM", START, END)
    assert len(replay.requests) == 3


def test_unknown_symbol_fails_at_once_without_retrying():
    replay = Replay(recorded("not_found_404.json", 404, "application/json"))
    with pytest.raises(
        YahooError, match="Yahoo NOPE: HTTP 404 Not Found: No data found, symbol may be delisted"
    ):
        client_for(replay, FakeTime()).history("NOPE", START, END)
    assert len(replay.requests) == 1


def test_timeouts_are_retried_and_requests_are_spaced_by_the_rate_limit():
    time = FakeTime()
    replay = Replay(httpx.ConnectTimeout("timed out"), ok(), ok())
    client = client_for(replay, time, min_interval_s=0.5, backoff_initial_s=0.1, backoff_max_s=0.1)
    client.history("CALM", START, END)
    client.history("CALM", START, END)
    assert len(replay.requests) == 3
    # backoff 0.1 s after the timeout, then 0.4 s more so the retry starts 0.5 s after the first request,
    # then 0.5 s between the two calls: never more than one request per min_interval_s
    assert time.sleeps == [pytest.approx(0.1), pytest.approx(0.4), pytest.approx(0.5)]
