"""The floors of `make bench-orm`: raw ASGI apps doing the ORM endpoints' SQL through a psycopg
AsyncConnectionPool (BENCH_DSN), served the same way (gunicorn + uvicorn worker).

`read`: the user by username, five columns, as JSON. `write`: a row inserted then updated in one
transaction. `me`: the session row by key, then its user by id (what /api/auth/me reads).
"""

import json
import os
import uuid
from urllib.parse import parse_qs

from psycopg_pool import AsyncConnectionPool

_pool: AsyncConnectionPool | None = None


async def connection_pool() -> AsyncConnectionPool:
    global _pool  # noqa: PLW0603 - one pool per worker process, opened on first request
    if _pool is None:
        _pool = AsyncConnectionPool(os.environ["BENCH_DSN"], min_size=1, max_size=10, open=False)
        await _pool.open()
    return _pool


# The row the read endpoints return, and the SQL the ORM's `aget(username=...)` sends for it.
USER_FIELDS = ("id", "username", "email", "is_staff", "date_joined")
READ_USER = "SELECT id, username, email, is_staff, date_joined FROM accounts_user WHERE username = %s"


async def _respond(send, payload: object) -> None:
    body = json.dumps(payload, default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read(scope, receive, send):
    username = parse_qs(scope["query_string"].decode())["username"][0]
    async with (await connection_pool()).connection() as connection:
        cursor = await connection.execute(READ_USER, [username])
        row = await cursor.fetchone()
    await _respond(send, dict(zip(USER_FIELDS, row, strict=True)))


async def write(scope, receive, send):
    while (await receive()).get("more_body"):
        pass
    key = uuid.uuid4().hex
    async with (await connection_pool()).connection() as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO accounts_loginfailures (key, window_started_at, failures) VALUES (%s, now(), 0)", [key]
        )
        await connection.execute("UPDATE accounts_loginfailures SET failures = 1 WHERE key = %s", [key])
    await _respond(send, {"ok": True})


async def me(scope, receive, send):
    query = parse_qs(scope["query_string"].decode())
    async with (await connection_pool()).connection() as connection:
        await connection.execute(
            "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > now()",
            [query["session"][0]],
        )
        cursor = await connection.execute(
            "SELECT id, username, email, is_staff FROM accounts_user WHERE id = %s", [query["user"][0]]
        )
        row = await cursor.fetchone()
    await _respond(send, dict(zip(("id", "username", "email", "is_staff"), row, strict=True)))
