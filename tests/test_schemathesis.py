"""Property-based fuzzing of the live API from its own schema: no 500, and every response is
what the schema declares (status, body, content type)."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_conforms_to_its_schema(live_server_url):
    schema = schemathesis.openapi.from_url(f"{live_server_url}/api/openapi.json")
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case):
            case.call_and_validate(checks=CHECKS)

        conforms()
        fuzzed.append(operation.label)
    assert len(fuzzed) == 6, fuzzed
