"""`make serve`: the production way of serving, with the full middleware stack and a graceful stop."""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.conftest import PROJECT_DIR, direct, direct_env, free_port, wait_until_serving


@contextlib.contextmanager
def serving(env: dict) -> Iterator[tuple[subprocess.Popen, str]]:
    """`make serve` with these variables (and tests/serving's URLs), until it answers; stopped after."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.serving.settings", **env, "PORT": str(port)}
    env["SERVING_TEST_NAME"] = application_name(port)
    process = subprocess.Popen(["make", "--no-print-directory", "serve"], cwd=PROJECT_DIR, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/api/health", process, seconds=60)
        yield process, url
    finally:
        stop(process)


@pytest.fixture
def make_serve(test_database_env):
    # Straight to the server: what it sees of the pool is asked below.
    with serving({**direct_env(test_database_env), "APP_ENV": "test", "WEB_CONCURRENCY": "1"}) as served:
        yield served


def stop(process: subprocess.Popen) -> None:
    """Stop make's gunicorn gracefully; kill the master and its workers only if that fails."""
    if process.poll() is not None:
        return
    masters = _children(process.pid)
    for master in masters:
        os.kill(master, signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        for master in masters:
            for worker in _children(master):
                os.kill(worker, signal.SIGKILL)
            os.kill(master, signal.SIGKILL)
        process.kill()
        process.wait()


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(line) for line in result.stdout.split()]


def application_name(port: int | str) -> str:
    return f"serving-test-{port}"


def serving_connections(test_database_env, url: str) -> int:
    """The server connections of the test server at url (by its application_name)."""
    params = direct({"host": test_database_env["DB_HOST"], "port": test_database_env["DB_PORT"]})
    params["password"] = test_database_env["DB_PASSWORD"]
    with psycopg.connect(**params, user=test_database_env["DB_USER"], dbname="postgres") as admin:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        return admin.execute(query, [application_name(url.rsplit(":", 1)[1])]).fetchone()[0]


def test_the_full_middleware_stack_is_on_the_served_path(make_serve):
    _, url = make_serve
    response = httpx.get(f"{url}/api/health", headers={"Origin": "http://localhost:3000", "X-Request-ID": "served-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "served-1"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Server"] == "uvicorn"  # gunicorn's uvicorn worker, as `make serve` runs it


def test_sigterm_lets_the_request_in_flight_finish_then_exits_cleanly(make_serve, test_database_env):
    process, url = make_serve
    result = {}

    def slow_request():
        result["response"] = httpx.get(f"{url}/test/slow?seconds=3", timeout=30)

    in_flight = threading.Thread(target=slow_request)
    in_flight.start()
    deadline = time.monotonic() + 10
    while serving_connections(test_database_env, url) == 0:  # the slow view holds its connection
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (master,) = _children(process.pid)  # make runs gunicorn's master as its child
    stopped_at = time.monotonic()
    os.kill(master, signal.SIGTERM)

    time.sleep(0.5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=2)  # no new connections once stopping

    in_flight.join(timeout=30)
    assert result["response"].status_code == 200
    assert result["response"].json() == {"slept": 3.0}
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at < 30  # gunicorn's graceful_timeout
    assert serving_connections(test_database_env, url) == 0  # the pool was closed on the way out
