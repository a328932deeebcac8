"""Production checks: each one tripped and passed; startup refused with the ids, or served."""

import os
import secrets
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import httpx
import pytest
from django.db import connection

from backend.checks import configuration_issues
from tests.conftest import PROJECT_DIR, free_port

GOOD_KEY = secrets.token_urlsafe(64)


@pytest.fixture
def production():
    """Settings as a correct production deploy has them (the rules read only these)."""
    return SimpleNamespace(
        SECRET_KEY=GOOD_KEY,
        DEBUG=False,
        ALLOWED_HOSTS=["api.example.com"],
        CORS_ALLOW_ALL_ORIGINS=False,
        CORS_ALLOWED_ORIGINS=["https://app.example.com", "http://localhost:3000"],
        CSRF_TRUSTED_ORIGINS=["https://app.example.com", "http://localhost:3000"],
        SESSION_COOKIE_SAMESITE="Lax",
        CSRF_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_DOMAIN=".example.com",
        CSRF_COOKIE_DOMAIN=None,
        DATABASES={"default": {"SOURCE": "components", "PASSWORD": "pw", "OPTIONS": {"sslmode": "require"}}},
        SECURE_HSTS_SECONDS=31_536_000,
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        METRICS_ENABLED=True,
        METRICS_TOKEN="a-token-for-prometheus",
    )


def ids(conf) -> set[str]:
    return {issue.id for issue in configuration_issues(conf)}


def test_a_correct_production_configuration_passes(production):
    assert ids(production) == set()


def frontend_origins(production, *origins):
    production.CORS_ALLOWED_ORIGINS = production.CSRF_TRUSTED_ORIGINS = list(origins)


def database(production, **changes):
    production.DATABASES = {"default": {**production.DATABASES["default"], **changes}}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda s: setattr(s, "SECRET_KEY", ""), "backend.E001"),
        (lambda s: setattr(s, "SECRET_KEY", "short-but-random-Zx81"), "backend.E002"),
        (lambda s: setattr(s, "SECRET_KEY", "django-insecure-" + "x" * 60), "backend.E003"),
        (lambda s: setattr(s, "DEBUG", True), "backend.E004"),
        (lambda s: setattr(s, "ALLOWED_HOSTS", []), "backend.E005"),
        (lambda s: setattr(s, "ALLOWED_HOSTS", ["*"]), "backend.E006"),
        (lambda s: setattr(s, "CORS_ALLOW_ALL_ORIGINS", True), "backend.E007"),
        (lambda s: frontend_origins(s, "http://app.example.com"), "backend.E008"),
        (lambda s: database(s, SOURCE="embedded"), "backend.E009"),
        (lambda s: database(s, PASSWORD=""), "backend.E010"),
        (lambda s: database(s, OPTIONS={"sslmode": "disable"}), "backend.W001"),
        (lambda s: setattr(s, "SECURE_HSTS_SECONDS", 0), "backend.W002"),
        (lambda s: setattr(s, "SESSION_COOKIE_SECURE", False), "backend.W003"),
        (lambda s: setattr(s, "SECURE_PROXY_SSL_HEADER", None), "backend.W004"),
        (lambda s: setattr(s, "METRICS_TOKEN", ""), "backend.W007"),
    ],
)
def test_each_check_trips(production, change, code):
    change(production)
    issues = configuration_issues(production)
    assert [issue.id for issue in issues] == [code]
    assert issues[0].hint


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": False}, "backend.E014"),
        ({"CSRF_COOKIE_SAMESITE": "None", "CSRF_COOKIE_SECURE": False}, "backend.E014"),
        ({"SESSION_COOKIE_DOMAIN": ".example.org"}, "backend.E015"),
        ({"CSRF_COOKIE_DOMAIN": "app.example.com"}, "backend.E015"),
        ({"CSRF_TRUSTED_ORIGINS": ["http://localhost:3000"]}, "backend.E016"),
        (
            {"CORS_ALLOWED_ORIGINS": ["https://app.example.org"], "CSRF_TRUSTED_ORIGINS": ["https://app.example.org"]},
            "backend.W005",
        ),
    ],
)
def test_each_impossible_frontend_session_is_refused(production, changes, code):
    for name, value in changes.items():
        setattr(production, name, value)
    issues = [issue for issue in configuration_issues(production) if issue.id != "backend.W003"]
    assert [issue.id for issue in issues] == [code]
    assert issues[0].hint


def test_metrics_turned_off_need_no_token(production):
    production.METRICS_ENABLED, production.METRICS_TOKEN = False, ""
    assert ids(production) == set()


def test_samesite_none_is_accepted_with_secure_cookies(production):
    production.SESSION_COOKIE_SAMESITE = production.CSRF_COOKIE_SAMESITE = "None"
    frontend_origins(production, "https://app.example.org")
    assert ids(production) == set()  # another site is fine when the cookies are SameSite=None; Secure


def production_env(**extra) -> dict:
    server = connection.settings_dict
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": GOOD_KEY,
        "METRICS_TOKEN": "a-token-for-prometheus",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CORS_ORIGINS": "https://app.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://app.example.com",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(connection.get_connection_params()["port"]),
        "DB_NAME": server["NAME"],
        "DB_USER": server["USER"],
        "DB_PASSWORD": connection.get_connection_params().get("password") or "unused-with-trust-auth",
        "DATABASE_URL": "",
        "PYTEST_VERSION": "",
    }
    env.pop("PYTEST_VERSION")
    return {**env, **extra}


def gunicorn(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.asgi:application"],
        cwd=PROJECT_DIR,
        env={**env, "PORT": str(port), "WEB_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.django_db
def test_check_deploy_is_clean_with_a_correct_production_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad", "code"),
    [({"DEBUG": "true"}, "backend.E004"), ({"SECRET_KEY": "", "DB_HOST": "", "DB_PASSWORD": ""}, "backend.E001")],
)
def test_unsafe_production_refuses_to_start(bad, code):
    env = production_env(**bad)
    imported = subprocess.run(
        [sys.executable, "-c", "import config.asgi"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode != 0
    assert code in imported.stderr
    assert "Traceback" not in imported.stderr
    server = gunicorn(env, free_port())
    try:
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode != 0
    assert code in stderr
    assert GOOD_KEY not in stderr


@pytest.mark.django_db
def test_safe_production_starts_and_serves_health():
    port = free_port()
    server = gunicorn(production_env(), port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["environment"] == "production"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS only over HTTPS
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0
