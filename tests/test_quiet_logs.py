"""A normal run logs no warning: `make run` with the admin and the API docs opened, and
`make serve` under a burst of load, static files included."""

import json
import os
import re
import secrets
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import httpx
import pytest

from tests.conftest import PROJECT_DIR, STAFF_PASSWORD, free_port, wait_until_serving

PAGES = [
    "/admin/login/",
    "/api/docs",
    "/api/openapi.json",
    "/static/admin/css/base.css",
    "/static/ninja/swagger-ui.css",
]


def start(target: str, env: dict, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", target],
        cwd=PROJECT_DIR,
        env={**os.environ, **env, "PORT": str(port), "WEB_CONCURRENCY": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make, uvicorn's reloader and its server, or gunicorn and its worker
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{url}/api/health", process, seconds=90)
    return process, url


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def warnings_in(log_path) -> list[str]:
    """Log records at warning or above, and any other line that reads as one (a plain warning or
    a traceback); a JSON record's logger name (gunicorn.error) is not its level."""
    return [line for line in log_path.read_text().splitlines() if reads_as_warning(line)]


def reads_as_warning(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return re.search(r"warn|error|traceback", line, re.IGNORECASE) is not None
    return record["level"] not in ("debug", "info")


def open_pages_and_admin(url: str, username: str) -> None:
    with httpx.Client(base_url=url, headers={"Referer": f"{url}/"}) as browser:
        for page in PAGES:
            assert browser.get(page).status_code == HTTPStatus.OK, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.get("/admin/login/").text).group(1)
        login = {"csrfmiddlewaretoken": token, "username": username, "password": STAFF_PASSWORD}
        assert browser.post("/admin/login/?next=/admin/", data=login).status_code == HTTPStatus.FOUND
        for page in ("/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/"):
            assert browser.get(page).status_code == HTTPStatus.OK, page


@pytest.fixture
def staff_user(django_db_blocker):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # Hashed as development does (the suite's settings hash with MD5, which development refuses).
    password = PBKDF2PasswordHasher().encode(STAFF_PASSWORD, "quietsalt")
    with django_db_blocker.unblock():
        user = get_user_model().objects.create(
            username="quiet-staff", password=password, is_staff=True, is_superuser=True
        )
    yield user
    with django_db_blocker.unblock():
        user.delete()


def test_make_run_with_the_admin_and_docs_open_logs_no_warning(test_database_env, staff_user, tmp_path):
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        process, url = start("run", {**test_database_env, "APP_ENV": "development"}, log)
        try:
            open_pages_and_admin(url, staff_user.username)
        finally:
            stop(process)
    assert warnings_in(log_path) == [], log_path.read_text()


def test_make_serve_under_load_logs_no_warning(test_database_env, staff_user, tmp_path):
    production = {"APP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "127.0.0.1"}
    env = {**test_database_env, **production, "DB_SSLMODE": "disable"}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process, url = start("serve", env, log)
        try:
            paths = ["/api/health", "/api/health/db", "/api/health/ready", "/static/admin/css/base.css"] * 100
            behind_tls_proxy = {"X-Forwarded-Proto": "https"}
            with httpx.Client(base_url=url, headers=behind_tls_proxy) as client, ThreadPoolExecutor(16) as pool:
                statuses = set(pool.map(lambda path: client.get(path).status_code, paths))
            assert statuses == {HTTPStatus.OK}
        finally:
            stop(process)
    # Production checks warn about what this test setup lacks (sslmode, proxy header); nothing else may.
    unexpected = [line for line in warnings_in(log_path) if "backend.W0" not in line]
    assert unexpected == [], log_path.read_text()
