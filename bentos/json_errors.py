"""Every error the server answers is JSON ``{"error": ...}``, whichever layer produced it.

The API's own routes answer JSON errors themselves (``routes.py``). The rest come from BentoML's outer
app: its router's 404 for a path no route matches (including paths its mount pattern cannot match, such
as a path parameter holding a newline), its 405 on ``/livez`` and friends, a 503 from ``/readyz``. Those
are plain text; :class:`JsonErrors` (an ASGI middleware on the service) rewrites any error response that
is not JSON into ``{"error": ...}`` with the same status and headers (``Allow`` included).
"""

from __future__ import annotations

import json
from http import HTTPStatus


def error_message(status: int, method: str, allow: str | None = None, text: str = "") -> str:
    """A sentence a client can act on, for errors raised by routers rather than by the API's routes."""
    if status == 404:
        return "nothing is served at this path; the API's operations are listed in /docs.json"
    if status == 405:
        allowed = f"; allowed: {allow}" if allow else ""
        return f"method {method} is not allowed on this path{allowed}"
    text = text.strip()
    if text and len(text) <= 500:
        return text
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class JsonErrors:
    """Pure ASGI middleware: a 4xx/5xx answer whose content type is not JSON becomes ``{"error": ...}``."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict = {}
        chunks: list[bytes] = []

        async def rewriting_send(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = (_header(headers, b"content-type") or "").lower()
                if message["status"] >= 400 and "json" not in content_type:
                    held["start"] = {**message, "headers": headers}
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                start = held.pop("start")
                headers = start["headers"]
                text = b"".join(chunks).decode("utf-8", errors="replace")
                error = error_message(start["status"], scope["method"], _header(headers, b"allow"), text)
                body = json.dumps({"error": error}).encode()
                kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
                kept += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({**start, "headers": kept})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)
