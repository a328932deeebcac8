"""The ORM path of async requests (backend/request_threads.py): one thread per request, reused
across requests; connections back to the pool as soon as no transaction holds them, on success and
on error, for async and sync views; transactions that roll back; an exhausted pool answers 503."""

import asyncio
import threading
import time
from http import HTTPStatus

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.http import JsonResponse
from django.urls import path

from apps.accounts.models import User
from backend.db.pools import pool_stats
from backend.request_threads import IDLE_THREADS
from tests.conftest import live_server

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


def in_use() -> int:
    stats = pool_stats()
    return stats["size"] - stats["available"] if stats else 0


async def async_read(request):
    count = await User.objects.acount()
    # The ORM call is over: its connection is back in the pool while the request goes on.
    return JsonResponse({"users": count, "in_use": in_use()})


def sync_read(request):
    return JsonResponse({"users": User.objects.count()})


async def async_fail(request):
    await User.objects.aget(username="no-such-user")  # raises DoesNotExist: a 500


def sync_fail(request):
    User.objects.count()
    raise RuntimeError("after a query")


@transaction.atomic
def create_then_fail(username: str) -> None:
    User.objects.create_user(username)
    raise ValueError("rolls the user back")


async def async_transaction(request):
    """The documented way: the statements that must be atomic in one sync function, in atomic."""
    await sync_to_async(create_then_fail)(request.GET["username"])


def thread_of_request() -> tuple[int, int]:
    first = threading.get_ident()
    time.sleep(0.05)
    return first, threading.get_ident()


async def threads(request):
    first, second = await sync_to_async(thread_of_request)()
    third, _ = await sync_to_async(thread_of_request)()
    return JsonResponse({"threads": sorted({first, second, third}), "loop": threading.get_ident()})


urlpatterns = [
    path("async-read", async_read),
    path("sync-read", sync_read),
    path("async-fail", async_fail),
    path("sync-fail", sync_fail),
    path("async-transaction", async_transaction),
    path("threads", threads),
]


@pytest.fixture
async def client():
    """The project's ASGI application in-process; a 500 is a response, not an exception."""
    from config.asgi import application

    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(
    ("target", "status"),
    [("/async-read", 200), ("/sync-read", 200), ("/async-fail", 500), ("/sync-fail", 500)],
)
async def test_every_request_gives_its_connection_back(client, target, status):
    before = in_use()
    responses = await asyncio.gather(*(client.get(target) for _ in range(30)))  # 3x the pool
    assert {response.status_code for response in responses} == {status}
    # The pool may still be adding a connection it began during the burst (counted as in use).
    for _ in range(100):  # 5 s at most: a leak never settles
        if in_use() == before:
            break
        await asyncio.sleep(0.05)
    assert in_use() == before
    assert pool_stats()["waiting"] == 0


async def test_an_async_orm_call_gives_the_connection_back_before_the_request_ends(client):
    response = await client.get("/async-read")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["in_use"] == 0


async def test_a_transaction_in_an_async_view_rolls_back_on_error(client):
    response = await client.get("/async-transaction?username=rolled-back")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    exists = await User.objects.filter(username="rolled-back").aexists()
    # The test's own query ran in asgiref's shared thread, outside any request: give its connection back.
    await sync_to_async(connections.close_all)()
    assert not exists


async def test_a_request_keeps_one_thread_and_threads_are_reused(client):
    first = (await client.get("/threads")).json()
    assert len(first["threads"]) == 1  # every sync call of the request, in one thread
    assert first["threads"][0] != first["loop"]
    idle = len(IDLE_THREADS)
    second = (await client.get("/threads")).json()
    assert second["threads"] == first["threads"]  # the same thread, taken again
    assert len(IDLE_THREADS) == idle
    together = await asyncio.gather(*(client.get("/threads") for _ in range(3)))
    assert len({response.json()["threads"][0] for response in together}) == 3  # one each, at once


def test_an_exhausted_pool_answers_503_within_its_timeout(test_database_env):
    """One pooled connection held in a transaction by a slow request: an ORM request (async or
    sync) waits DB_POOL_TIMEOUT for it, then gets a 503 problem; nothing hangs."""
    env = {**test_database_env, "DJANGO_SETTINGS_MODULE": "tests.serving.settings"}
    env |= {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "1", "DB_POOL_TIMEOUT": "1"}
    with live_server(env) as url, httpx.Client(base_url=url, timeout=30) as http:
        slow = threading.Thread(target=http.get, args=("/test/slow?seconds=4",))
        slow.start()
        time.sleep(0.5)  # the slow request holds the only connection now
        try:
            for target in ("/api/test/orm-async", "/api/test/orm-sync"):
                started = time.monotonic()
                response = http.get(target)
                assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.text
                assert response.json()["type"] == "/problems/database-unavailable"
                assert time.monotonic() - started < 3
        finally:
            slow.join()
        assert http.get("/api/test/orm-async").status_code == HTTPStatus.OK  # and it recovers
