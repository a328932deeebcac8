"""The frontend's TypeScript types, generated from the committed OpenAPI snapshot with
openapi-typescript, type-check a small consumer (tests/typescript/consumer.ts) and the login page
the browser test drives (tests/typescript/login-page.ts)."""

from tests.conftest import TYPESCRIPT_DIR, npm


def test_generated_types_check_against_a_consumer(node_tools):
    schema = (TYPESCRIPT_DIR / "build" / "schema.d.ts").read_text()
    assert "getHealth" in schema
    assert '"application/problem+json"' in schema
    checked = npm("run", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
