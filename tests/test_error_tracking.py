"""Error tracking against a real receiver: the served app with SENTRY_DSN pointing at an HTTP
server of the test's own, an unhandled error, and the envelope Sentry's SDK posted."""

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import PROJECT_DIR, live_server


class Receiver(ThreadingHTTPServer):
    """Sentry's ingest, as far as the SDK can tell: every envelope posted, decompressed."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        self.envelopes: list[bytes] = []

    @property
    def dsn(self) -> str:
        return f"http://public0key@127.0.0.1:{self.server_address[1]}/42"

    def events(self) -> list[dict]:
        """The error events received (not sessions or other items)."""
        found = []
        for envelope in list(self.envelopes):
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


class EnvelopeHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "identity")
        assert encoding in {"gzip", "identity"}, f"unexpected Content-Encoding {encoding}"
        self.server.envelopes.append(gzip.decompress(body) if encoding == "gzip" else body)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def wait_for(predicate, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "nothing arrived in time"
        time.sleep(0.05)


def test_an_unhandled_error_reaches_the_receiver_tagged_and_without_secrets(receiver, test_database_env):
    secret_key, metrics_token = secrets.token_urlsafe(64), secrets.token_urlsafe(32)
    session, csrf, bearer = secrets.token_hex(16), secrets.token_hex(16), secrets.token_urlsafe(24)
    env = {
        **test_database_env,
        "DJANGO_SETTINGS_MODULE": "tests.serving.settings",
        "SENTRY_DSN": receiver.dsn,
        "SECRET_KEY": secret_key,
        "METRICS_TOKEN": metrics_token,
    }
    with live_server(env) as url, httpx.Client(base_url=url, timeout=30) as client:
        # Client errors first: none of them may be reported.
        assert client.get(f"/api/test/users/{uuid.uuid4()}").status_code == HTTPStatus.NOT_FOUND
        assert client.get("/api/no-such-path").status_code == HTTPStatus.NOT_FOUND
        assert client.post("/api/auth/login", content=b"{not json").status_code in {400, 403}
        request_id = f"sentry-test-{uuid.uuid4().hex}"
        response = client.get(
            "/api/test/boom",
            headers={
                "Cookie": f"sessionid={session}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Authorization": f"Bearer {bearer}",
                "X-Request-ID": request_id,
            },
        )
        assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
        assert response.json()["request_id"] == request_id
        wait_for(receiver.events)
        time.sleep(1)  # anything else the SDK had queued

    (event,) = receiver.events()
    assert event["tags"]["request_id"] == request_id
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"].startswith("boom while holding 32, True")
    assert exception["stacktrace"]["frames"][-1]["function"] == "boom"
    sent = b"".join(receiver.envelopes).decode()
    for name, value in {
        "SECRET_KEY": secret_key,
        "DB_PASSWORD": test_database_env["DB_PASSWORD"],
        "METRICS_TOKEN": metrics_token,
        "session cookie": session,
        "CSRF token": csrf,
        "Authorization": bearer,
    }.items():
        assert value not in sent, f"{name} was sent to Sentry"


def sentry_loaded(**env: str) -> bool:
    probe = "import sys, config.asgi; print('sentry_sdk' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env={**os.environ, "APP_ENV": "test", "SENTRY_DSN": "", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


def test_without_a_dsn_sentry_is_never_loaded():
    assert not sentry_loaded()
    assert sentry_loaded(SENTRY_DSN="http://public0key@127.0.0.1:9/1")
