"""The connection budget against the real server's max_connections: a host that fits, one that does
not, in the system check, at gunicorn's start and in /api/config/validate."""

import os
import subprocess
import sys
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from backend.db.budget import HEALTH_CONNECTIONS, budget_issues
from tests.conftest import PROJECT_DIR, free_port, wait_until_serving

pytestmark = pytest.mark.django_db
# The checks ask the server through whatever is in between; these say there is nothing (in the
# PgBouncer pass too: the budget is then PgBouncer's, see the last test).
DIRECT = {"DB_POOLER": "none"}


@pytest.fixture(autouse=True)
def direct(monkeypatch, settings):
    monkeypatch.setitem(settings.DATABASES["default"], "POOLER", "none")


def server_limits() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        (max_connections,) = cursor.fetchone()
        cursor.execute("SHOW superuser_reserved_connections")
        (reserved,) = cursor.fetchone()
    return int(max_connections), int(reserved)


def test_a_host_that_fits_gets_no_warning():
    assert budget_issues(workers=1) == []


def test_a_host_that_does_not_fit_is_told_the_numbers(settings):
    max_connections, _ = server_limits()
    pool_max = settings.DATABASES["default"]["POOL_MAX_SIZE"]
    workers = max_connections // (pool_max + HEALTH_CONNECTIONS) + 1
    (issue,) = budget_issues(workers=workers)
    assert issue.id == "backend.W008"
    needed = workers * (pool_max + HEALTH_CONNECTIONS)
    assert f"{workers} workers x ({pool_max} pooled + 1 health) = {needed} database connections" in issue.msg
    assert f"max_connections {max_connections} - " in issue.msg
    assert "PgBouncer" in issue.hint


def oversized_pool() -> str:
    """A pool one worker cannot have on this server."""
    return str(server_limits()[0] + 1)


def test_the_system_check_warns_with_the_numbers(test_database_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=PROJECT_DIR,
        env={**os.environ, **test_database_env, **DIRECT, "APP_ENV": "test", "DB_POOL_MAX_SIZE": oversized_pool()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # a warning does not stop anything
    assert "backend.W008" in result.stderr
    assert f"1 workers x ({oversized_pool()} pooled + 1 health)" in result.stderr


def test_gunicorn_warns_before_its_workers_start(test_database_env, tmp_path):
    log = tmp_path / "server.log"
    port = free_port()
    env = {
        **os.environ,
        **test_database_env,
        **DIRECT,
        "APP_ENV": "test",
        "PORT": str(port),
        "DB_POOL_MAX_SIZE": oversized_pool(),
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.asgi:application"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/api/health", process)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert "backend.W008: This host's 1 workers" in log.read_text()


def test_config_validate_lists_it(settings, django_user_model):
    settings.WEB_CONCURRENCY = server_limits()[0]  # each worker needs two connections at least
    client = Client()
    client.force_login(django_user_model.objects.create(username="staff", is_staff=True))
    response = client.get("/api/config/validate")
    assert response.status_code == HTTPStatus.OK
    assert "backend.W008" in [warning["id"] for warning in response.json()["warnings"]]


def test_behind_pgbouncer_the_workers_budget_is_pgbouncers(monkeypatch, settings):
    monkeypatch.setitem(settings.DATABASES["default"], "POOLER", "pgbouncer")
    max_connections, _ = server_limits()
    assert budget_issues(workers=max_connections) == []  # the server sees PgBouncer's pool only
