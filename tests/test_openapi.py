"""The committed OpenAPI snapshot (backend/openapi.json) is what the code serves; `make openapi` refreshes it."""

import json

from django.test import Client

from tests.conftest import PROJECT_DIR, run_manage

SNAPSHOT = PROJECT_DIR / "backend" / "openapi.json"


def test_snapshot_matches_the_code(tmp_path):
    fresh = tmp_path / "openapi.json"
    result = run_manage(
        "export_openapi_schema", "--api", "backend.api.api", "--indent", "2", "--sorted", "--output", str(fresh)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(fresh.read_text()) == json.loads(SNAPSHOT.read_text()), "run `make openapi` and commit"


def test_served_schema_has_human_operation_ids_and_problem_errors():
    schema = Client().get("/api/openapi.json").json()
    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}
    assert {
        "getHealth",
        "checkDatabase",
        "checkReadiness",
        "validateConfig",
        "getDatabaseStatus",
        "testDatabase",
    } <= set(operations)
    for operation in operations.values():
        for status in ("401", "403", "422", "500", "503"):
            content = operation["responses"][status]["content"]
            refs = {media["schema"]["$ref"].rsplit("/", 1)[-1] for media in content.values()}
            assert refs & {"Problem", "NotReadyProblem"}
