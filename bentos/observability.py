"""Prometheus metrics of the API and the middleware that records them per route template.

Metrics are created when the service starts (not at import): BentoML points prometheus_client at its
multiprocess directory only then, and metrics made earlier would never reach ``/metrics``.
The middleware also turns an unexpected exception into a plain 500 (logged here with its traceback,
never sent to the client), so every fault is answered and counted.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

logger = logging.getLogger("quant_forecaster")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_AGE_BUCKETS = (0, 1, 2, 3, 4, 5, 7, 10, 14, 30, 90, 365, 1000, 3650)


@dataclass
class ApiMetrics:
    requests: object
    latency: object
    predictions: object
    feature_age: object
    stale: object

    @classmethod
    def create(cls) -> ApiMetrics:
        import prometheus_client as prom

        return cls(
            requests=prom.Counter(
                "quant_api_requests", "HTTP requests by route template, method and status",
                ["endpoint", "method", "status"],
            ),
            latency=prom.Histogram(
                "quant_api_request_duration_seconds", "Request latency by route template",
                ["endpoint", "method"], buckets=_LATENCY_BUCKETS,
            ),
            predictions=prom.Counter(
                "quant_predictions", "Forecasts served, by model version and feature source",
                ["model_version", "source"],
            ),
            feature_age=prom.Histogram(
                "quant_feature_age_days", "Age of the online features behind each forecast (calendar days)",
                ["model_version"], buckets=_AGE_BUCKETS,
            ),
            stale=prom.Counter(
                "quant_stale_predictions", "Forecasts served on features older than the freshness window",
                ["model_version"],
            ),
        )  # fmt: skip


class MetricsMiddleware:
    """Pure ASGI middleware: per-route counts and latency, and a last-resort 500 for real faults."""

    def __init__(self, app, get_metrics) -> None:
        self.app = app
        self.get_metrics = get_metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception(
                "unhandled error on %s %s (incident %s)", scope["method"], scope["path"], incident
            )
            if not status["sent"]:
                body = json.dumps(
                    {"error": f"internal server error (incident {incident}); see the server log"}
                )
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
        finally:
            metrics = self.get_metrics()
            if metrics is not None:
                route = scope.get("route")
                endpoint = getattr(route, "path", None) or "unmatched"
                method = scope["method"]
                metrics.requests.labels(endpoint, method, str(status["code"])).inc()
                metrics.latency.labels(endpoint, method).observe(time.perf_counter() - started)
