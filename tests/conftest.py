"""Shared fixtures. The suite runs on a real PostgreSQL: the configured one, else the embedded one."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import httpx
import psycopg
import pytest

from backend.db.embedded import EmbeddedPostgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
TYPESCRIPT_DIR = PROJECT_DIR / "tests" / "typescript"


# Files tests leave for people to look at (the browser test's screenshot), listed after the run.
ARTIFACTS: list[Path] = []


# Figures tests measured for people to read (the container test's timings), printed after the run.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for path in ARTIFACTS:
        terminalreporter.write_line(f"test output: {path}")
    for line in FIGURES:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    # Servers that tests start, tests stop: the embedded PostgreSQL if this session started it and
    # nothing else (a `make run` started meanwhile) uses it now.
    EmbeddedPostgres.for_project().stop_if_unused()


def pytest_collection_modifyitems(items):
    # pytest-django creates the test database only for tests marked as using it. A test that points
    # a server subprocess at it (test_database_env) is one, with committed data: mark it so, or run
    # alone it would reach the development database instead.
    for item in items:
        if "test_database_env" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of this run's own (test_app_<pid>): two runs on one server (two terminals,
    two checkouts' CI) must not drop each other's. On the embedded server, those of runs that died
    are dropped first."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    base = test.get("NAME") or f"test_{database['NAME']}"
    test["NAME"] = f"{base}_{os.getpid()}"
    if database.get("EMBEDDED"):
        drop_dead_runs_databases(EmbeddedPostgres.for_project(), base)


def drop_dead_runs_databases(server: EmbeddedPostgres, base: str) -> None:
    server.ensure_running()
    with server.connect("postgres") as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname ~ %s", [rf"^{base}_[0-9]+$"])
        for (name,) in rows.fetchall():
            try:
                os.kill(int(name.rsplit("_", 1)[1]), 0)
            except ProcessLookupError:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except PermissionError:
                pass  # alive, another account's


@pytest.fixture(scope="session", autouse=True)
def _release_pooled_test_database(django_db_setup):
    """Behind PgBouncer, its idle server connections to the test database would keep Django from
    dropping it at the end: PgBouncer closes them first (KILL, on its admin console)."""
    yield
    from django.db import connection

    if connection.settings_dict.get("POOLER") != "pgbouncer":
        return
    params = connection.get_connection_params()
    console = {key: params[key] for key in ("host", "port", "user", "password") if key in params}
    with psycopg.connect(**console, dbname="pgbouncer", autocommit=True) as admin:
        admin.execute(f"KILL {connection.settings_dict['NAME']}", prepare=False)
        admin.execute(f"RESUME {connection.settings_dict['NAME']}", prepare=False)


@pytest.fixture(scope="session", autouse=True)
def _close_health_probe(django_db_setup, django_db_blocker):
    """The health checks keep one connection open per process: close it before the test database goes."""
    yield
    from apps.health import services

    services.probe.discard()


@pytest.fixture(scope="session")
def embedded() -> EmbeddedPostgres:
    """The project's embedded PostgreSQL 18, started (whatever database the suite is configured with)."""
    server = EmbeddedPostgres.for_project()
    server.ensure_running()
    return server


def run_manage(*args: str, cwd: Path = PROJECT_DIR, env: dict | None = None, timeout: float = 120):
    """Run manage.py in a subprocess with the suite's interpreter; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def open_tmp_path():
    """A temporary folder others can enter: the embedded server's unprivileged user must reach it."""
    path = Path(tempfile.mkdtemp(prefix="backend-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def asgi_client():
    """The real ASGI application (middleware included) driven in-process, for concurrent requests."""
    from config.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {seconds} s") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def test_database_env(django_db_setup, django_db_blocker) -> dict:
    """Environment variables that point a server subprocess at the suite's test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        params = connection.get_connection_params()
    return {
        "DB_HOST": params["host"],
        "DB_PORT": str(params["port"]),
        "DB_NAME": connection.settings_dict["NAME"],
        "DB_USER": connection.settings_dict["USER"],
        # A trust-auth server (CI's second pass) ignores it; production settings require one.
        "DB_PASSWORD": params.get("password") or "unused-with-trust-auth",
        "DATABASE_URL": "",
    }


def direct(params: dict) -> dict:
    """The same connection parameters, to the PostgreSQL server itself when the suite runs through
    PgBouncer (tools/pgbouncer.py says where it is): for what only the server can tell (its
    connections, its roles), and for tests of the serving, not of PgBouncer."""
    host, port = os.environ.get("TEST_DIRECT_DB_HOST"), os.environ.get("TEST_DIRECT_DB_PORT")
    return {**params, "host": host, "port": int(port)} if host and port else params


def direct_env(env: dict) -> dict:
    """test_database_env's variables, to the PostgreSQL server itself (see direct)."""
    server = direct({"host": env["DB_HOST"], "port": env["DB_PORT"]})
    return {**env, "DB_HOST": server["host"], "DB_PORT": str(server["port"]), "DB_POOLER": "none"}


# A small body limit, so the tests can cross it cheaply.
LIVE_SERVER_ENV = {"REQUEST_BODY_MAX_BYTES": "65536"}


@contextlib.contextmanager
def live_server(env: dict, host: str = "127.0.0.1"):
    """The ASGI app served by uvicorn in a subprocess with these variables; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--lifespan", "off"],
        cwd=PROJECT_DIR,
        env={**os.environ, "APP_ENV": "test", "LOG_LEVEL": "warning", **env},
    )
    url = f"http://{host}:{port}"
    try:
        wait_until_serving(f"{url}/api/openapi.json", process)
        yield url
    finally:
        # SIGINT, not SIGTERM: uvicorn re-raises the signal it stopped on once it has shut down, and
        # only SIGINT's default (KeyboardInterrupt) lets the process's exit handlers run, coverage's
        # among them.
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def live_server_url(test_database_env):
    """The ASGI app served by uvicorn in a subprocess, on the test database."""
    with live_server({**test_database_env, **LIVE_SERVER_ENV}) as url:
        yield url


@dataclass
class LiveSession:
    """A logged-in browser-like client of the live server: its cookies and CSRF token."""

    client: httpx.Client
    csrf_token: str


STAFF_PASSWORD = "staff-pass-1234!"  # test-only


def admin_login(client: httpx.Client, username: str, password: str) -> None:
    """Log in through the admin's login form, as a browser does; the client keeps the session."""
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    login = {"csrfmiddlewaretoken": token, "username": username, "password": password}
    assert client.post("/admin/login/?next=/admin/", data=login).status_code == HTTPStatus.FOUND
    assert "sessionid" in client.cookies


@pytest.fixture
def live_staff(live_server_url, django_db_blocker):
    """A staff user in the test database (committed, so the server subprocess sees it), logged in
    through the admin's login form of the live server; deleted afterwards."""
    from django.contrib.auth import get_user_model

    with django_db_blocker.unblock():
        user = get_user_model().objects.create_user("live-staff", password=STAFF_PASSWORD, is_staff=True)
    client = httpx.Client(base_url=live_server_url, headers={"Referer": f"{live_server_url}/"}, timeout=30)
    try:
        admin_login(client, user.username, STAFF_PASSWORD)
        yield LiveSession(client, client.cookies["csrftoken"])
    finally:
        client.close()
        with django_db_blocker.unblock():
            user.delete()


def npm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["npm", *args], cwd=TYPESCRIPT_DIR, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="session")
def node_tools():
    """The pinned TypeScript tools (tests/typescript), installed with the machine's Node.js."""
    if shutil.which("npm") is None:
        pytest.fail("Node.js and npm are missing: apt-get install nodejs npm", pytrace=False)
    lock = TYPESCRIPT_DIR / "package-lock.json"
    installed = TYPESCRIPT_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        result = npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stderr
    generated = npm("run", "generate")  # the types, from the committed schema snapshot
    assert generated.returncode == 0, generated.stderr
