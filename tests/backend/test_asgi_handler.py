"""The ASGI handler and async middleware: no thread on the API's hot path, and Django's guarantees
kept wherever sync code runs (connections back to the pool, one thread per request)."""

import threading
from http import HTTPStatus

import pytest
from asgiref import sync

from backend.db.pools import pool_stats


@pytest.fixture
def hops(monkeypatch):
    """Every sync_to_async call made while the test runs, by the function it wraps."""
    calls = []
    original = sync.SyncToAsync.__call__

    def spy(self, *args, **kwargs):
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", spy)
    return calls


async def test_liveness_makes_no_thread_hop(asgi_client, hops):
    for _ in range(3):
        response = await asgi_client.get("/api/health", headers={"Origin": "http://localhost:3000"})
        assert response.status_code == HTTPStatus.OK
    assert hops == []
    # ...with the whole stack on: security headers, CORS, request id.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
async def test_sync_code_still_returns_its_connection_to_the_pool(asgi_client, hops, django_user_model):
    # A session cookie makes the staff endpoint's auth query the database (sync, in a thread).
    cookie = {"Cookie": "sessionid=abcdefghijklmnop"}
    assert (await asgi_client.get("/api/config/validate", headers=cookie)).status_code == HTTPStatus.UNAUTHORIZED
    before = pool_stats()
    for _ in range(15):  # more requests than the pool has connections
        response = await asgi_client.get("/api/config/validate", headers=cookie)
        assert response.status_code == HTTPStatus.UNAUTHORIZED
    after = pool_stats()
    assert hops  # the sync parts did run in the request's thread
    assert after["size"] - after["available"] == before["size"] - before["available"]  # none kept
    assert after["waiting"] == 0


@pytest.mark.django_db(transaction=True)
async def test_sync_steps_of_one_request_share_one_thread(asgi_client, admin_user, monkeypatch):
    """Thread-sensitivity: the view's authentication, the session writes and the session
    middleware's response hook of one request all run in one thread (not the event loop's)."""
    from django.contrib.auth import backends
    from django.contrib.sessions.backends.db import SessionStore

    from backend.async_middleware import SessionMiddleware

    threads = []

    def recording(original):
        def wrapper(*args, **kwargs):
            threads.append(threading.get_ident())
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(backends.ModelBackend, "authenticate", recording(backends.ModelBackend.authenticate))
    monkeypatch.setattr(SessionStore, "save", recording(SessionStore.save))
    monkeypatch.setattr(SessionMiddleware, "process_response", recording(SessionMiddleware.process_response))
    page = await asgi_client.get("/admin/login/")
    token = page.cookies["csrftoken"]
    threads.clear()  # only the login POST counts
    response = await asgi_client.post(
        "/admin/login/",
        data={"username": admin_user.username, "password": "password", "csrfmiddlewaretoken": token},
        headers={"Cookie": f"csrftoken={token}"},
    )
    assert response.status_code == HTTPStatus.FOUND  # logged in: the session was written
    assert len(threads) >= 3
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


def test_deploy_checks_find_the_async_subclasses(settings):
    from backend.checks import security_middleware

    assert security_middleware() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("CsrfViewMiddleware")]
    assert [error.id for error in security_middleware()] == ["backend.E013"]
