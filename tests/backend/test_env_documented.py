"""Every environment variable the code reads is listed in .env.example and in the README's table.
The names come from the code itself: every typed read through backend.env.Env."""

import ast
import os
import re
import shutil
import subprocess
import sys

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from backend.env import Env
from tests.conftest import PROJECT_DIR, STAFF_PASSWORD, admin_login, free_port, wait_until_serving

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


@pytest.mark.django_db(transaction=True)
def test_a_checkout_started_from_a_copy_of_env_example_lets_an_admin_log_in(
    open_tmp_path, test_database_env, django_user_model
):
    """`cp .env.example .env`, then run: its empty values (SECRET_KEY=, DB_PASSWORD=) mean unset, so
    the development key signs the session and the password in DATABASE_URL still stands."""
    checkout = open_tmp_path / "checkout"
    for part in ("backend", "apps", "config"):
        shutil.copytree(PROJECT_DIR / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("manage.py", "pyproject.toml"):
        shutil.copy(PROJECT_DIR / part, checkout)
    shutil.copy(PROJECT_DIR / ".env.example", checkout / ".env")
    # Hashed as development does (the suite's settings hash with MD5, which development does not read).
    password = PBKDF2PasswordHasher().encode(STAFF_PASSWORD, "envexamplesalt")
    django_user_model.objects.create(username="env-admin", password=password, is_staff=True, is_superuser=True)

    db = test_database_env
    url = f"postgresql://{db['DB_USER']}:{db['DB_PASSWORD']}@{db['DB_HOST']}:{db['DB_PORT']}/{db['DB_NAME']}"
    # As a developer's shell: no pytest, no APP_ENV, nothing of the suite's database but this URL.
    ours = {"PYTEST_VERSION", "APP_ENV", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"}
    env = {key: value for key, value in os.environ.items() if key not in ours and not key.startswith("COV_")}
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--lifespan", "off"]
    server = subprocess.Popen(command, cwd=checkout, env={**env, "DATABASE_URL": url, "LOG_LEVEL": "warning"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/api/health", server)
        with httpx.Client(base_url=base, headers={"Referer": f"{base}/"}, timeout=30) as browser:
            admin_login(browser, "env-admin", STAFF_PASSWORD)
            home = browser.get("/admin/")
            assert home.status_code == 200
            assert "Site administration" in home.text
            assert browser.get("/api/health").json()["environment"] == "development"
    finally:
        server.terminate()
        server.wait(timeout=30)
