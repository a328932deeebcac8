"""The ASGI handler and async middleware: no thread on the API's hot path, and Django's guarantees
kept wherever sync code runs (connections back to the pool, one thread per request)."""

import asyncio
import gc
import threading
import time
from http import HTTPStatus

import pytest
from asgiref import sync
from django.core.signals import request_finished
from django.db import connections
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from backend.db.pools import pool_stats
from config.urls import urlpatterns as project_urls

NAPS = []


async def nap(request):
    """An async view that takes its time; records whether it finished or was cancelled."""
    try:
        await asyncio.sleep(float(request.GET["seconds"]))
    except asyncio.CancelledError:
        NAPS.append("cancelled")
        raise
    NAPS.append("finished")
    return JsonResponse({"slept": True})


async def whoami(request):
    """Both of the auth middleware's lazy attributes, resolved under ASGI."""
    auser = await request.auser()

    def username():  # request.user loads on attribute access: a query, so in a thread
        return request.user.get_username()

    return JsonResponse({"auser": auser.get_username(), "user": await sync.sync_to_async(username)()})


class RecordedStream(StreamingHttpResponse):
    def close(self):
        NAPS.append("response closed")
        super().close()


async def stream(request):
    """A slow stream: a chunk, then a long pause, then the rest."""

    async def chunks():
        yield b"first chunk"
        await asyncio.sleep(5)
        yield b"never sent"

    return RecordedStream(chunks())


@csrf_exempt
def slow_reader(request):
    """A sync view that reads the body after a pause: a disconnect meanwhile does not stop it."""
    time.sleep(0.2)
    try:
        NAPS.append(request.body)
    except ValueError as error:  # the body was closed under it
        NAPS.append(error)
    return JsonResponse({"read": True})


urlpatterns = [
    path("nap", nap),
    path("whoami", whoami),
    path("stream", stream),
    path("slow-reader", slow_reader),
    *project_urls,
]


class RawRequest:
    """One GET through the ASGI application, the client's side (disconnecting) under the test's control."""

    def __init__(self, target: str, headers: tuple = (), method: str = "GET", body: bytes = b"") -> None:
        url_path, _, query = target.partition("?")
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": url_path,
            "raw_path": url_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.incoming = asyncio.Queue()
        self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": False})
        self.sent = []

    def start(self) -> asyncio.Task:
        from config.asgi import application

        return asyncio.create_task(application(self.scope, self.incoming.get, self.send))

    async def send(self, message) -> None:
        self.sent.append(message)

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)


@pytest.fixture
def naps():
    NAPS.clear()
    yield NAPS
    NAPS.clear()


@pytest.fixture
def finished_requests():
    """Senders of request_finished. The receiver is async: a sync one outside Django's own would
    send the handler down Django's path (a thread), and the inline path would go untested."""
    finished = []

    async def receiver(**kwargs):
        finished.append(kwargs["sender"])

    request_finished.connect(receiver)
    yield finished
    request_finished.disconnect(receiver)


@pytest.fixture
def hops(monkeypatch):
    """Every sync_to_async call made while the test runs, by the function it wraps."""
    calls = []
    original = sync.SyncToAsync.__call__

    def spy(self, *args, **kwargs):
        # Not repr() by default: a queryset's bound method would run its query to show itself.
        calls.append(getattr(self.func, "__qualname__", None) or type(self.func).__name__)
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


async def test_an_unknown_api_path_is_a_problem_without_a_thread_hop(asgi_client, hops):
    response = await asgi_client.get("/api/no/such/path", headers={"X-Request-ID": "req-404"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["instance"], body["request_id"]) == (
        "/problems/not-found",
        "/api/no/such/path",
        "req-404",
    )
    # No HTML 404 page rendered in a thread and thrown away (Django's response_for_exception); what
    # is left is Django's warning line for any 4xx, on its shared thread pool.
    assert hops == ["log_response"]


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


@pytest.mark.urls(__name__)
async def test_a_client_disconnect_cancels_the_view_and_finishes_the_request(naps, finished_requests, hops):
    request = RawRequest("/nap?seconds=5")
    handling = request.start()
    await asyncio.sleep(0.2)  # the view is sleeping now
    request.disconnect()
    await asyncio.wait_for(handling, timeout=2)
    assert naps == ["cancelled"]
    assert request.sent == []  # nothing is sent to a client that left
    assert finished_requests  # request_finished still ran: connections are cleaned up
    assert hops == []  # on the event loop: the inline path, not Django's


@pytest.mark.urls(__name__)
async def test_a_sync_view_that_outlives_a_disconnect_can_still_read_the_body(naps):
    """Found by Django's own tests (make django-tests): the request's cleanup, which closes the
    body, waits for its thread, where the view still runs."""
    request = RawRequest("/slow-reader", method="POST", body=b"the body")
    handling = request.start()
    await asyncio.sleep(0.05)  # the view is in its pause
    request.disconnect()
    await asyncio.wait_for(handling, timeout=2)
    assert naps == [b"the body"]


@pytest.mark.urls(__name__)
async def test_a_disconnect_during_a_stream_still_closes_the_response(naps):
    request = RawRequest("/stream")
    handling = request.start()
    for _ in range(100):  # until the first chunk is out
        if any(m.get("body") == b"first chunk" for m in request.sent):
            break
        await asyncio.sleep(0.01)
    request.disconnect()
    await asyncio.wait_for(handling, timeout=2)
    assert request.status == HTTPStatus.OK
    assert b"never sent" not in b"".join(m.get("body", b"") for m in request.sent)
    assert naps == ["response closed"]  # its resources are released, as Django does


@pytest.mark.urls(__name__)
async def test_a_sent_response_stops_the_disconnect_listener(naps):
    request = RawRequest("/nap?seconds=0")
    await asyncio.wait_for(request.start(), timeout=2)
    assert request.status == HTTPStatus.OK
    assert naps == ["finished"]
    await asyncio.sleep(0)  # the listener's cancellation is delivered
    listeners = [task for task in asyncio.all_tasks() if "listen_for_disconnect" in repr(task.get_coro())]
    assert listeners == []


@pytest.mark.urls(__name__)
async def test_the_server_cancelling_a_request_is_not_swallowed(naps):
    request = RawRequest("/nap?seconds=5")
    handling = request.start()
    await asyncio.sleep(0.2)
    handling.cancel()  # what a server does to a request at a hard shutdown
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handling, timeout=2)
    assert naps == ["cancelled"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/api/health", ()),
        ("/api/health/db", ()),
        ("/api/config/validate", ((b"cookie", b"sessionid=abcdefghijklmnop"),)),  # a session query, in a thread
        ("/api/no/such/path", ()),
    ],
)
async def test_api_requests_leave_no_reference_cycles(target, headers):
    """API requests are freed as soon as they are served, not by the garbage collector: a cycle per
    request meant collections of tens of milliseconds under load, the slowest 1 % of responses.
    (The admin's pages still make cycles, in templates and message storage: not a hot path.)"""
    for _ in range(3):  # warm: caches, the probe's connection, the pool
        await RawRequest(target, headers).start()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            request = RawRequest(target, headers)
            await request.start()
            assert request.status in {HTTPStatus.OK, HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND}
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, (HttpRequest, HttpResponseBase))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
async def test_lazy_user_attributes_still_find_the_session_user(asgi_client, admin_user, client):
    # Through the project's handler (config.asgi), which serves the request with the async
    # AuthenticationMiddleware's lazy attributes; Django's test AsyncClient would not.
    try:
        await sync.sync_to_async(client.force_login)(admin_user)
    finally:
        # The login ran in asgiref's shared thread: give back that thread's connection.
        await sync.sync_to_async(connections.close_all)()
    session = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    response = await asgi_client.get("/whoami", headers=session)
    assert response.json() == {"auser": admin_user.username, "user": admin_user.username}
    assert (await asgi_client.get("/whoami")).json() == {"auser": "", "user": ""}


@pytest.mark.django_db(transaction=True)
async def test_a_session_only_read_is_finished_on_the_event_loop(asgi_client, admin_user, client, hops):
    """A logged-in request that does not change its session (most of them) needs no thread for the
    session middleware's response step: only a Vary header. A login (a change) still saves in the
    thread: test_sync_steps_of_one_request_share_one_thread."""
    try:
        await sync.sync_to_async(client.force_login)(admin_user)
    finally:
        await sync.sync_to_async(connections.close_all)()
    hops.clear()
    response = await asgi_client.get(
        "/api/auth/me", headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json()["username"] == admin_user.username
    assert "Cookie" in response.headers["Vary"]
    assert not [hop for hop in hops if "process_response" in hop]
    assert hops  # the session and the user were read, in the request's thread


def test_a_lazy_user_read_after_its_request_is_gone_says_so(rf):
    """The lazy attributes hold the request weakly (no reference cycle per request): read after the
    request is freed, they raise a ReferenceError that says so, where Django's would still work."""
    from django.contrib.sessions.backends.db import SessionStore

    from backend.async_middleware import AuthenticationMiddleware

    request = rf.get("/")
    request.session = SessionStore()
    AuthenticationMiddleware(lambda request: None).process_request(request)
    user = request.user
    del request
    gc.collect()
    with pytest.raises(ReferenceError, match="read after its request was freed"):
        _ = user.is_authenticated


async def test_an_async_request_finished_receiver_runs_without_breaking_the_request(asgi_client, hops):
    """Django 5+ supports async receivers; on the inline path (a request that used no thread) the
    response must not be closed on the event loop, where Signal.send cannot run them."""
    finished = []

    async def receiver(sender, **kwargs):
        finished.append(sender)

    request_finished.connect(receiver)
    try:
        response = await asgi_client.get("/api/health")
    finally:
        request_finished.disconnect(receiver)
    assert response.status_code == HTTPStatus.OK
    assert len(finished) == 1
    assert "close" in hops[-1]  # Django's path: the response closed in a thread


@pytest.mark.parametrize(
    ("method", "target", "headers", "status"),
    [
        ("DELETE", "/api/health", {}, HTTPStatus.METHOD_NOT_ALLOWED),  # Ninja's 405, made a problem
        ("GET", "/api/no/such/path", {}, HTTPStatus.NOT_FOUND),
        ("POST", "/api/auth/logout", {"Cookie": "sessionid=x"}, HTTPStatus.FORBIDDEN),  # no CSRF token
        ("GET", "/api/health", {"Host": "evil.example"}, HTTPStatus.BAD_REQUEST),  # DisallowedHost
    ],
)
async def test_problem_responses_keep_the_headers_of_the_stack(asgi_client, method, target, headers, status):
    """A browser frontend must read the problem: CORS and the security headers stay on it."""
    origin = {"Origin": "http://localhost:3000"}
    response = await asgi_client.request(method, target, headers={**origin, **headers})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in response.headers["Vary"].lower()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
async def test_session_save_every_request_saves_in_the_thread(asgi_client, settings):
    """SESSION_SAVE_EVERY_REQUEST saves an unmodified session too: a query, so not on the loop."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    settings.SESSION_SAVE_EVERY_REQUEST = True
    session = SessionStore()
    await session.aset("seen", True)
    await session.asave()
    stored = await Session.objects.aget(session_key=session.session_key)
    await Session.objects.filter(pk=stored.pk).aupdate(expire_date=stored.expire_date.replace(year=2030))

    response = await asgi_client.get("/api/health", headers={"Cookie": f"sessionid={session.session_key}"})
    assert response.status_code == HTTPStatus.OK
    assert response.cookies["sessionid"] == session.session_key  # saved and sent again
    saved = await Session.objects.aget(pk=stored.pk)
    await sync_to_async(connections.close_all)()  # the test's own queries ran in asgiref's shared thread
    assert saved.expire_date != stored.expire_date.replace(year=2030)  # its expiry moved: it was saved
