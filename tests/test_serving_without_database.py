"""`make serve` starts and answers liveness whatever the database's state, reports it in readiness
within the health timeout, and turns ready when the database comes back, without a restart."""

import contextlib
import os
import secrets
import socket
import subprocess
import threading
import time
from http import HTTPStatus

import httpx
import pytest

from tests.conftest import PROJECT_DIR, free_port, wait_until_serving
from tests.test_serving import stop

HEALTH_TIMEOUT = 2.0


class Database:
    """A TCP front for the test database on a port of its own: it refuses (nothing listens),
    stays silent (accepts and never answers) or forwards to the real server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "refused"
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def set(self, mode: str) -> None:
        self._close_all()
        self.mode = mode
        if mode != "refused":
            self.listener = socket.create_server(("127.0.0.1", self.port))
            threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                self.sockets.append(client)
                if self.mode == "forwarding":
                    server = socket.create_connection(self.target)
                    self.sockets.append(server)
                    for source, sink in ((client, server), (server, client)):
                        threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def _close_all(self) -> None:
        for sock in [self.listener, *self.sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
                sock.close()
        self.listener, self.sockets = None, []


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def database(test_database_env):
    front = Database((test_database_env["DB_HOST"], int(test_database_env["DB_PORT"])))
    yield front
    front.set("refused")


def production() -> dict:
    return {"SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "false"}


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=HEALTH_TIMEOUT + 10)
    return response, time.monotonic() - started


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_serves_while_the_database_is_refused_then_silent_and_turns_ready_when_it_is_back(
    test_database_env, database, app_env
):
    port = free_port()
    env = {
        **os.environ,
        **test_database_env,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(database.port),
        "DB_HEALTH_TIMEOUT": str(HEALTH_TIMEOUT),
        "APP_ENV": app_env,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        **(production() if app_env == "production" else {}),
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve"], cwd=PROJECT_DIR, env=env, text=True, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/api/health", process, seconds=90)
        for mode in ("refused", "silent"):
            database.set(mode)
            assert httpx.get(f"{url}/api/health").status_code == HTTPStatus.OK, mode
            ready, seconds = timed_get(f"{url}/api/health/ready")
            assert ready.status_code == HTTPStatus.SERVICE_UNAVAILABLE, mode
            assert ready.json()["type"] == "/problems/not-ready"
            assert seconds < HEALTH_TIMEOUT + 1.5, f"{mode}: readiness took {seconds:.1f} s"

        database.set("forwarding")
        deadline = time.monotonic() + 15
        while (ready := httpx.get(f"{url}/api/health/ready", timeout=10)).status_code != HTTPStatus.OK:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    finally:
        stop(process)
    if app_env == "development":  # it tried to migrate first, and said in one line why it could not
        errors = [line for line in process.stderr.read().splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: cannot reach the database at 127.0.0.1:{database.port}: "
            "the database refused the connection (--traceback shows where)"
        ]
