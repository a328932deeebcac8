"""The frontend's TypeScript types, generated from the committed OpenAPI snapshot with
openapi-typescript, type-check a small consumer (tests/typescript/consumer.ts)."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_DIR

FOLDER = PROJECT_DIR / "tests" / "typescript"


def npm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["npm", *args], cwd=FOLDER, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def node_tools():
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js and npm are needed for the TypeScript check and CI has them: install nodejs")
        pytest.skip("Node.js/npm not installed here (CI has them): the TypeScript check needs them")
    lock = FOLDER / "package-lock.json"
    installed = FOLDER / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        result = npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stderr


def test_generated_types_check_against_a_consumer(node_tools):
    (FOLDER / "build" / "schema.d.ts").unlink(missing_ok=True)
    generated = npm("run", "generate")
    assert generated.returncode == 0, generated.stderr
    schema = (FOLDER / "build" / "schema.d.ts").read_text()
    assert "getHealth" in schema
    assert '"application/problem+json"' in schema
    checked = npm("run", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
