"""Schema-driven fuzzing: schemathesis reads `/openapi.json` and sends valid and invalid requests
to every route of the real server; none may answer 500, and every answer must keep the schema's
promises (documented status codes, content types, bodies).

schemathesis's own pytest plugin does not run under pytest 9 (it sets `Function._nodeid`), so the
operations' Hypothesis strategies are driven directly; the checks are schemathesis's own.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

ROUTES = {
    "GET /apps.json",
    "GET /apps.csv",
    "GET /runs",
    "GET /apps/{app_id}/history",
    "GET /healthz",
}


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda mode: mode.value)
def test_no_request_makes_the_api_fail(served: str, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} == ROUTES
    for operation in operations:
        if mode is schemathesis.GenerationMode.NEGATIVE and not any(operation.iter_parameters()):
            continue  # /healthz takes nothing, so nothing about it can be malformed

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
        )
        def exchange(case: schemathesis.Case) -> None:
            case.call_and_validate()

        exchange()
