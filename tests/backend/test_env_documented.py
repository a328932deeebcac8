"""Every environment variable the code reads is listed in .env.example and in the README's table.
The names come from the code itself: every typed read through backend.env.Env."""

import ast
import re

import pytest

from backend.env import Env
from tests.conftest import PROJECT_DIR

READERS = {name for name in vars(Env) if not name.startswith("_") and name != "environ"}


def variables_read_by_the_code() -> set[str]:
    names = set()
    for folder in ("backend", "config", "apps"):
        for path in (PROJECT_DIR / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in READERS or not node.args:
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.isupper():
                    names.add(first.value)
                    if node.func.attr == "secret":  # NAME or the file NAME_FILE points to
                        names.add(f"{first.value}_FILE")
    return names


VARIABLES = sorted(variables_read_by_the_code())


def test_the_scan_finds_the_reads():
    assert {"APP_ENV", "SECRET_KEY_FILE", "DB_PASSWORD_FILE", "DB_POOL_MAX_SIZE", "EMBEDDED_PG_DIR"} <= set(VARIABLES)


@pytest.mark.parametrize("name", VARIABLES)
def test_env_example_lists_it(name):
    listed = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (PROJECT_DIR / ".env.example").read_text(), re.MULTILINE)
    assert name in listed, f"add {name}= with its default and meaning to .env.example"


@pytest.mark.parametrize("name", VARIABLES)
def test_readme_table_lists_it(name):
    rows = [line for line in (PROJECT_DIR / "README.md").read_text().splitlines() if line.startswith("| `")]
    assert any(f"`{name}`" in row.split("|")[1] for row in rows), f"add {name} to the README's configuration table"
