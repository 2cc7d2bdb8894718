"""The OpenAPI document at ``/docs.json`` says exactly what the server enforces.

The main test is ``schemathesis run --checks all`` in-process: schemathesis's own engine (the one its CLI
runs) with every check and every phase - examples, coverage, fuzzing and the stateful phase, which
follows the document's links - against a real ``bentoml serve``, with a valid API key, configured by
``schemathesis.toml`` beside this file (the file README tells people to run the CLI with). Any failed
check fails the test, not only a 5xx. A few direct requests pin what generated data reaches only by
chance: errors on odd paths, the deployment's bounds in the document, the links.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis.engine import events, from_schema

CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
SEED = 20240301  # a fixed seed: the same requests on every run (the run is still ~1,000 of them)
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$"
API_OPERATIONS = {
    "POST /api/predict",
    "POST /api/data",
    "POST /api/portfolio/update",
    "GET /api/portfolio",
    "GET /api/model/{model_id}",
    "GET /api/risk",
    "GET /api/positions",
    "GET /api/orders",
}
# 422 error types a valid request may still meet: rules JSON Schema cannot state (see schemathesis.toml).
CONTENT_RULE_ERRORS = {"duplicate_symbol"}


@schemathesis.check
def no_field_error_for_valid_data(ctx, response, case) -> None:
    """A request valid by the document is never refused for a field: that would be an undocumented rule.

    ``schemathesis.toml`` lets two operations answer a valid request with 422 for rules on content the
    document describes in words; their 422s name no field. One that does is a rule missing from it."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    try:
        detail = response.json().get("detail") or []
    except (ValueError, AttributeError):
        return  # content_type_conformance and response_schema_conformance report that
    fields = [d for d in detail if d.get("type") not in CONTENT_RULE_ERRORS]
    if fields:
        raise AssertionError(f"a request valid by the document was refused for a field: {fields[:3]}")


def _schema(base: str, key: str):
    data = tomllib.loads(CONFIG_FILE.read_text())
    overrides = {
        "seed": SEED,
        "headers": {"X-API-Key": key},
        # No example database (schemathesis would write .hypothesis/ into the working directory).
        "generation": {**data.get("generation", {}), "database": "none"},
    }
    config = schemathesis.Config.from_dict({**data, **overrides})
    config.projects.override.checks.update(included_check_names=["all"])  # --checks all
    return schemathesis.openapi.from_url(f"{base}/docs.json", config=config)


def _failures(finished: events.ScenarioFinished) -> list[str]:
    found = []
    for checks in finished.recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"{finished.recorder.label} ({finished.phase.value}): {check.name}: {failure.title}\n"
                    f"{failure.message}\n{check.failure_info.code_sample}"
                )
    return found


def test_schemathesis_finds_no_conformance_failure(api, api_keys):
    schema = _schema(api.base, api_keys[0])
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert API_OPERATIONS <= labels, labels

    started = time.monotonic()
    failures: list[str] = []
    errors: list[str] = []
    phases: dict[str, str] = {}
    tested: dict[str, set[str]] = {}
    links: set[str] = set()  # the links the stateful phase followed
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            failures += _failures(event)
            if event.recorder.cases:
                tested.setdefault(event.phase.value, set()).add(event.recorder.label)
            links |= {
                case.transition.id
                for case in event.recorder.cases.values()
                if case.transition is not None and case.is_transition_applied
            }
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.value
    elapsed = time.monotonic() - started

    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} conformance failure(s):\n\n" + "\n\n".join(failures)
    for phase in ("examples", "coverage", "fuzzing", "stateful"):
        assert phases.get(phase) == "success", phases
    # Every operation of the API was exercised, and the stateful phase followed the links, from a stored
    # portfolio (the example body is valid here) too.
    assert API_OPERATIONS <= tested["fuzzing"], tested["fuzzing"]
    # (A link with no parameters, update -> current portfolio, is followed but not counted here.)
    assert len(links) >= 3 and any("/api/portfolio/update -> [201]" in link for link in links), links
    assert elapsed < 120, f"the contract run took {elapsed:.0f} s"


def test_the_document_states_the_servers_rules(api):
    doc = httpx.get(f"{api.base}/docs.json").json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "quant-assets API"
    schemas = doc["components"]["schemas"]
    # One symbol rule, stated wherever a symbol is read.
    assert schemas["Bar"]["properties"]["symbol"]["pattern"] == SYMBOL_PATTERN
    assert schemas["PredictRequest"]["properties"]["symbol"]["pattern"] == SYMBOL_PATTERN
    assert schemas["BatchPredictRequest"]["properties"]["symbols"]["items"]["pattern"] == SYMBOL_PATTERN
    weights = schemas["PortfolioUpdate"]["properties"]["weights"]
    assert list(weights["patternProperties"]) == [SYMBOL_PATTERN] and weights["additionalProperties"] is False
    # This deployment's bounds: the cap the server was started with, the model's feature count.
    assert weights["patternProperties"][SYMBOL_PATTERN] == {"type": "number", "minimum": 0.0, "maximum": 0.5}
    (features, _) = schemas["PredictRequest"]["properties"]["features"]["anyOf"]
    assert features["minItems"] == features["maxItems"] == 16
    assert schemas["BatchPredictRequest"]["properties"]["symbols"]["maxItems"] == 1000
    # The example portfolio respects the cap.
    (example,) = schemas["PortfolioUpdate"]["examples"]
    assert example == {"weights": {"AAPL": 0.5, "AMZN": 0.5}}
    # Links: a stored portfolio is the current one; answers name the model version that gave them.
    paths = doc["paths"]
    update = paths["/api/portfolio/update"]["post"]["responses"]
    assert update["201"]["links"]["CurrentPortfolio"]["operationId"] == "current_portfolio"
    predict = paths["/api/predict"]["post"]["responses"]["200"]["links"]["AnsweringModel"]
    assert predict == {
        "operationId": "model_info",
        "parameters": {"model_id": "$response.body#/model_version"},
        "description": "The model version that produced this answer",
    }
    (model_id,) = paths["/api/model/{model_id}"]["get"]["parameters"]
    examples = {e["value"] for e in model_id["examples"].values()}
    assert {"current", "champion", "challenger", "1"} <= examples
    # Documented errors, each the shared ErrorBody.
    for path, method, statuses in (
        ("/api/data", "post", {"401", "403", "422", "503"}),
        ("/api/portfolio/update", "post", {"401", "403", "422", "503"}),
        ("/api/model/{model_id}", "get", {"404", "422", "503"}),
        ("/api/portfolio", "get", {"404", "503"}),
        ("/api/predict", "post", {"400", "404", "422", "503"}),
        ("/api/risk", "get", {"404", "503"}),
        ("/api/positions", "get", {"503"}),
        ("/api/orders", "get", {"422", "503"}),
    ):
        responses = paths[path][method]["responses"]
        assert statuses <= set(responses), (path, sorted(responses))
        for status in statuses:
            assert "ErrorBody" in json.dumps(responses[status]["content"]), (path, status)
    # A refusal by the risk limits lists every breach: the shared error, plus the breaches.
    refused = update["422"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/LimitsBreached"} in refused
    breached = schemas["LimitsBreached"]
    assert set(breached["required"]) == {"error", "breaches"}
    assert set(schemas["LimitBreach"]["required"]) == {"limit", "value", "threshold", "reason"}
    (status,) = paths["/api/orders"]["get"]["parameters"]
    assert status["schema"]["enum"][0] == "open" and "filled" in status["schema"]["enum"]
    # BentoML's own component schemas that nothing uses are gone.
    assert not {"TaskStatusResponse", "InvalidArgument", "HTTPValidationError"} & set(schemas)


@pytest.mark.parametrize(
    ("method", "path", "status", "needle"),
    [
        ("GET", "/api/model/a%0Ab", 404, "/docs.json"),  # a newline: BentoML's router matches nothing
        ("GET", "/api/model/a%2Fb", 404, "/docs.json"),
        ("GET", "/no/such/route", 404, "/docs.json"),
        ("POST", "/livez", 405, "GET"),  # BentoML's own route (it may also allow HEAD)
        ("PUT", "/api/data", 405, "allowed: POST"),
        ("GET", "/api/model/" + "9" * 65, 422, "path.model_id"),
        ("GET", "/api/model/nonsense", 404, "current"),
    ],
)
def test_every_error_is_json(api, method, path, status, needle):
    response = httpx.request(method, f"{api.base}{path}")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert needle in response.json()["error"]
    if status == 405:
        assert response.headers["allow"]


def test_a_body_that_is_not_json_is_a_422(api, write_headers):
    for body in (b"{not json", b"\xff\xfe\x00"):
        response = httpx.post(
            f"{api.base}/api/portfolio/update",
            content=body,
            headers={**write_headers, "content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]


def test_the_key_is_checked_before_the_body(api):
    response = httpx.post(f"{api.base}/api/data", json={"not": "a bar"})
    assert response.status_code == 401 and "X-API-Key" in response.json()["error"]
