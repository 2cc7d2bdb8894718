"""The OpenAPI document at ``/docs.json``: BentoML's merge of its own and the API's operations, finished.

BentoML merges its probes (``/livez``, ``/readyz``, ...) with the mounted FastAPI app's operations and
labels the result OpenAPI 3.0.2, but the API's schemas are JSON Schema 2020-12 as FastAPI and pydantic
write them (``type: "null"``, ``patternProperties``, numeric ``exclusiveMinimum``): OpenAPI 3.1. A client
generator reading 3.0 would misread them, so :func:`finish` labels the document 3.1.0, names the API,
documents what the probes answer (text on success, a JSON error when not ready) and drops BentoML's
component schemas nothing refers to. :class:`ServeDocument` answers ``GET /docs.json`` with it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

OPENAPI_VERSION = "3.1.0"
DOCUMENT_PATH = "/docs.json"
API_TITLE = "quant-assets API"
API_VERSION = "1"
DESCRIPTION = (
    "Forecasts from the champion model, bars into the landing zone, portfolio targets (judged by the risk "
    "limits), model status, and the trading cycle's risk report, positions and orders. "
    "Write operations need an API key (X-API-Key). Every error is JSON: ErrorBody, "
    '{"error": "<what is wrong and what to do>", "detail": [...]}. A 5xx is only ever a server fault.'
)
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _probe(**statuses: tuple[str, dict]) -> dict:
    return {status[1:]: {"description": d, "content": content} for status, (d, content) in statuses.items()}


_PROBES = {
    "/livez": ("livez", _probe(s200=("The server is alive", _TEXT))),
    "/healthz": ("healthz", _probe(s200=("The server is alive (deprecated: use /livez)", _TEXT))),
    "/readyz": (
        "readyz",
        _probe(
            s200=("Ready: the model is loaded and the online store answers", _TEXT),
            s503=("Not ready (yet): the online store does not answer", _ERROR),
        ),
    ),
    "/metrics": ("metrics", _probe(s200=("Prometheus metrics (text exposition format)", _TEXT))),
}


def _references(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(v) for v in node)) if node else set()
    return set()


def finish(spec: dict) -> dict:
    """The served document from BentoML's merged one (which is left untouched)."""
    doc = copy.deepcopy(spec)
    doc["openapi"] = OPENAPI_VERSION
    doc["info"] = {"title": API_TITLE, "version": API_VERSION, "description": DESCRIPTION}
    for path, (operation_id, responses) in _PROBES.items():
        operation = doc.get("paths", {}).get(path, {}).get("get")
        if operation is not None:
            operation["operationId"] = operation_id
            operation["responses"] = copy.deepcopy(responses)
    # Keep only the component schemas some operation reaches (BentoML adds its own, unused here).
    schemas = doc.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    reached: set[str] = set()
    frontier = {r.removeprefix(prefix) for r in _references(doc.get("paths", {})) if r.startswith(prefix)}
    while frontier:
        reached |= frontier
        frontier = {
            r.removeprefix(prefix)
            for name in frontier
            for r in _references(schemas.get(name, {}))
            if r.startswith(prefix)
        } - reached
    for name in list(schemas):
        if name not in reached:
            del schemas[name]
    used_tags = {
        tag for item in doc.get("paths", {}).values() for op in item.values() for tag in op.get("tags", [])
    }
    doc["tags"] = [tag for tag in doc.get("tags", []) if tag.get("name") in used_tags] + [
        {"name": name} for name in sorted(used_tags - {t.get("name") for t in doc.get("tags", [])})
    ]
    return doc


class ServeDocument:
    """Pure ASGI middleware answering ``GET``/``HEAD /docs.json`` with ``document()``; the rest passes."""

    def __init__(self, app, document: Callable[[], dict]) -> None:
        self.app = app
        self.document = document

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != DOCUMENT_PATH
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        body = json.dumps(self.document()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
