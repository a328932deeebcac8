"""The floors the benchmark compares the app with, served the same way (gunicorn + uvicorn worker).

`fixed_json`: a raw ASGI app that answers fixed JSON. `select_one`: a raw ASGI app that runs
`SELECT 1` through a psycopg AsyncConnectionPool on the same database (BENCH_DSN).
"""

import json
import os

from psycopg_pool import AsyncConnectionPool

BODY = json.dumps({"status": "ok"}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def _read_body(receive) -> None:
    while (await receive()).get("more_body"):
        pass


async def fixed_json(scope, receive, send):
    await _read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


_pool: AsyncConnectionPool | None = None


async def select_one(scope, receive, send):
    global _pool  # noqa: PLW0603 - one pool per worker process, opened on first request
    await _read_body(receive)
    if _pool is None:
        _pool = AsyncConnectionPool(os.environ["BENCH_DSN"], min_size=1, max_size=10, open=False)
        await _pool.open()
    async with _pool.connection() as connection:
        await connection.execute("SELECT 1")
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
