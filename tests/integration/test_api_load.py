"""A bounded load run on loopback: 5,000 requests at concurrency 32, mixed forms, zero errors."""

import asyncio
import socket
import time

import httpx

from quant_assets.core.features import FEATURE_COLUMNS

REQUESTS = 5000
CONCURRENCY = 32


def test_load_run_has_no_errors(api, pipeline):
    features = pipeline.value("technical_features")
    row = features[features["symbol"] == "AMZN"].sort_values("date").iloc[-1]
    bodies = [
        {"symbol": "AAPL"},
        {"symbol": "AMZN", "features": [float(row[n]) for n in FEATURE_COLUMNS]},
        {"symbols": ["AAPL", "AMZN", "ABT", "ADBE", "BHF"]},
        {"symbol": "adbe"},
    ]
    statuses: dict[int, int] = {}
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient, queue: asyncio.Queue) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                response = await client.post("/api/predict", json=bodies[i % len(bodies)])
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code != 200:
                    failures.append(response.text[:200])
            except httpx.HTTPError as exc:
                failures.append(repr(exc))

    async def run() -> float:
        queue: asyncio.Queue = asyncio.Queue()
        for i in range(REQUESTS):
            queue.put_nowait(i)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        transport = httpx.AsyncHTTPTransport(
            limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        async with httpx.AsyncClient(base_url=api.base, transport=transport, timeout=30) as client:
            started = time.perf_counter()
            await asyncio.gather(*(worker(client, queue) for _ in range(CONCURRENCY)))
            return time.perf_counter() - started

    elapsed = asyncio.run(run())
    assert not failures, f"{len(failures)} failures, e.g. {failures[:3]}; statuses {statuses}"
    assert statuses == {200: REQUESTS}
    print(
        f"{REQUESTS} requests at concurrency {CONCURRENCY}: {elapsed:.1f} s, {REQUESTS / elapsed:.0f} req/s"
    )
