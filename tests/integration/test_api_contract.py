"""Property-based run of schemathesis against the service's own OpenAPI document: never a 5xx.

Every operation in ``/docs.json`` (BentoML's probes and the mounted API alike) gets a bounded number of
generated requests; writes carry a valid key so their body validation is exercised, not just auth.
"""

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error

EXAMPLES_PER_OPERATION = 30


def test_generated_requests_never_get_a_server_error(api, api_keys):
    schema = schemathesis.openapi.from_url(f"{api.base}/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {
        "POST /api/predict",
        "POST /api/data",
        "POST /api/portfolio/update",
        "GET /api/model/{model_id}",
    } <= labels
    calls = 0
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def exercise(case) -> None:
            nonlocal calls
            response = case.call(base_url=api.base, headers={"X-API-Key": api_keys[0]}, timeout=10)
            calls += 1
            case.validate_response(response, checks=[not_a_server_error])

        exercise()
    assert calls >= len(operations)
