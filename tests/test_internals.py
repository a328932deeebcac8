"""One test per private internal the code relies on (pinned in pyproject.toml): an upgrade that
changes one fails here, naming it, instead of silently taking a slower or wrong path."""

import asyncio
import weakref

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.signals import request_finished
from django.db import connection
from django.http import HttpResponse

from backend.asgi_handler import request_thread_busy
from backend.request_threads import RequestThread


async def test_asgiref_records_the_requests_thread_per_context():
    # backend.asgi_handler.request_thread_busy reads SyncToAsync.thread_sensitive_context and
    # SyncToAsync.context_to_thread_executor; the handler gives ThreadSensitiveContext its executor.
    assert isinstance(SyncToAsync.context_to_thread_executor, weakref.WeakKeyDictionary)
    async with ThreadSensitiveContext():
        assert SyncToAsync.thread_sensitive_context.get(None) is not None
        assert not request_thread_busy()
        await sync_to_async(lambda: None)()
        assert request_thread_busy()  # asgiref's own executor: anything may be open in it
    thread = RequestThread()
    async with ThreadSensitiveContext(executor=thread):
        assert SyncToAsync.context_to_thread_executor[SyncToAsync.thread_sensitive_context.get()] is thread
        await sync_to_async(lambda: None)()
        assert thread.used
        assert not request_thread_busy()
    thread.release()


def test_django_signal_live_receivers_splits_sync_and_async():
    # backend.asgi_handler.inline_receivers calls Signal._live_receivers(sender).
    async def async_receiver(sender, **kwargs):
        pass

    request_finished.connect(async_receiver)
    try:
        sync_receivers, async_receivers = request_finished._live_receivers(None)
    finally:
        request_finished.disconnect(async_receiver)
    assert async_receiver in async_receivers
    assert async_receiver not in sync_receivers


def test_django_response_keeps_its_closers_and_handler_class():
    # backend.asgi_handler.close_response reads response._resource_closers and _handler_class.
    import inspect

    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.base import BaseHandler

    assert HttpResponse()._resource_closers == []
    assert "response._resource_closers.append(request.close)" in inspect.getsource(BaseHandler.get_response)
    assert "response._handler_class = self.__class__" in inspect.getsource(ASGIHandler.run_get_response)


@pytest.mark.django_db
def test_django_keeps_its_connection_pools_on_the_wrapper_class():
    # backend.db.pools reads DatabaseWrapper._connection_pools (alias -> psycopg_pool.ConnectionPool).
    from django.db.backends.postgresql.base import DatabaseWrapper
    from psycopg_pool import ConnectionPool

    connection.ensure_connection()
    pools = DatabaseWrapper._connection_pools
    assert isinstance(pools, dict)
    assert isinstance(pools["default"], ConnectionPool)
    assert {"pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting"} <= set(
        pools["default"].get_stats()
    )


def test_whitenoise_middleware_has_what_the_async_lookup_reads(settings):
    # backend.async_middleware.StaticFilesMiddleware reads autorefresh, static_prefix, files,
    # find_file and serve of whitenoise's middleware.
    from whitenoise.middleware import WhiteNoiseMiddleware

    middleware = WhiteNoiseMiddleware(lambda request: HttpResponse())
    assert isinstance(middleware.autorefresh, bool)
    assert middleware.static_prefix == settings.STATIC_URL
    assert isinstance(middleware.files, dict)
    assert callable(middleware.find_file)
    assert callable(middleware.serve)


async def test_psycopg_connection_can_be_dropped_without_a_round_trip(test_database_env):
    # backend.db.probe.DatabaseProbe.discard calls AsyncConnection.pgconn.finish().
    import psycopg

    env = test_database_env
    params = {"host": env["DB_HOST"], "port": env["DB_PORT"], "user": env["DB_USER"], "dbname": env["DB_NAME"]}
    if env.get("DB_PASSWORD"):
        params["password"] = env["DB_PASSWORD"]
    conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
    conn.pgconn.finish()
    await asyncio.sleep(0)
    assert conn.closed
