"""URLs for `make bench-pools`: /api/health/db's round trip made three ways, behind the project's
middleware, to choose what the endpoint uses (DESIGN: Django's pool against a small psycopg
AsyncConnectionPool built from the same settings; the faster that passes every health test stays).

- `dedicated`: the health checks' DatabaseProbe, one async connection per process (what ships).
- `async-pool?max=N`: a psycopg AsyncConnectionPool with Django's connection parameters, min_size 1.
- `django-pool`: Django's own pool; its connections are sync, so the query runs in a thread.
"""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from psycopg_pool import AsyncConnectionPool

from apps.health.services import probe
from backend.db.probe import PARAM_KEYS

_pools: dict[int, AsyncConnectionPool] = {}  # by max_size, one per worker, opened on first use


def ok() -> JsonResponse:
    return JsonResponse({"status": "ok", "database": {"vendor": "postgresql"}})


async def dedicated(request):
    await probe.ping(settings.DB_HEALTH_TIMEOUT)
    return ok()


async def async_pool(request):
    max_size = int(request.GET["max"])
    if max_size not in _pools:
        params = await sync_to_async(connection.get_connection_params)()
        kwargs = {key: params[key] for key in PARAM_KEYS if params.get(key) not in (None, "")}
        pool = AsyncConnectionPool(kwargs={**kwargs, "autocommit": True}, min_size=1, max_size=max_size, open=False)
        await pool.open()
        _pools[max_size] = pool
    async with asyncio.timeout(settings.DB_HEALTH_TIMEOUT), _pools[max_size].connection() as conn:
        await conn.execute("SELECT 1")
    return ok()


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def django_pool(request):
    await sync_to_async(_select_one)()
    return ok()


# Under /api/health: exempt from the production HTTPS redirect, like the real checks.
urlpatterns = [
    path("api/health/db/dedicated", dedicated),
    path("api/health/db/async-pool", async_pool),
    path("api/health/db/django-pool", django_pool),
]
