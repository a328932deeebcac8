"""A management command that cannot reach the database says so in one line (host, port, cause; never
the password) and exits non-zero; `--traceback` still shows where."""

import pytest

from tests.conftest import free_port, run_manage

PASSWORD = "s3cret-Pw-never-printed"


def refused() -> dict:
    return {"DATABASE_URL": "", "DB_HOST": "127.0.0.1", "DB_PORT": str(free_port()), "DB_PASSWORD": PASSWORD}


@pytest.mark.parametrize(
    "command",
    [
        ("migrate", "--no-input"),
        ("createsuperuser", "--no-input", "--username", "x"),
        ("shell", "--command", "from apps.accounts.models import User; User.objects.count()"),
        ("showmigrations",),
    ],
)
def test_a_refused_database_is_one_line_and_a_non_zero_exit(command):
    env = refused()
    result = run_manage(*command, env=env)
    assert result.returncode == 69, result.stderr
    assert result.stderr.splitlines() == [
        f"error: cannot reach the database at 127.0.0.1:{env['DB_PORT']}: "
        "the database refused the connection (--traceback shows where)"
    ]
    assert PASSWORD not in result.stdout + result.stderr


def test_an_unknown_role_is_named_as_rejected_credentials(test_database_env):
    env = {**test_database_env, "DB_USER": "no_such_role", "DB_PASSWORD": PASSWORD}
    result = run_manage("migrate", "--no-input", env=env)
    assert result.returncode == 69, result.stderr
    [line] = result.stderr.splitlines()
    assert f"{env['DB_HOST']}:{env['DB_PORT']}" in line
    assert "credentials" in line
    assert PASSWORD not in result.stdout + result.stderr


def test_a_wrong_password_is_named_as_rejected_credentials(embedded):
    # On the embedded server, whatever the suite's server is: it checks passwords (scram).
    env = {"DB_HOST": "127.0.0.1", "DB_PORT": str(embedded.port), "DB_NAME": "app", "DB_USER": "postgres"}
    result = run_manage("migrate", "--no-input", env={**env, "DATABASE_URL": "", "DB_PASSWORD": PASSWORD})
    assert result.returncode == 69, result.stderr
    [line] = result.stderr.splitlines()
    assert "the database rejected the credentials" in line
    assert PASSWORD not in result.stdout + result.stderr


def test_traceback_is_shown_when_asked_for():
    result = run_manage("migrate", "--no-input", "--traceback", env=refused())
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "OperationalError" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
