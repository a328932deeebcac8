"""Health probes of the database over one dedicated async connection per process.

The checks run on the event loop (no thread hop) and under a deadline, so a database that
refuses, rejects or hangs gives a classified failure in time, never a stuck request. Concurrent
checks share the one connection (psycopg serialises them), so 1,000 checks cost one connection;
a connection that failed is dropped (that one only) and the next check connects afresh. `make bench-pools` measures
it against Django's pool and psycopg AsyncConnectionPools (README, "Serving and speed").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.db import connections

PARAM_KEYS = ("host", "port", "dbname", "user", "password", "sslmode", "application_name", "connect_timeout")
AUTH_SQLSTATES = {"28000", "28P01"}


class ProbeFailure(Exception):  # noqa: N818 - reads as "a probe failure"
    """The database did not answer; ``kind`` names how (refused, timeout, auth, error)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Ping:
    server_version: str
    latency_ms: float


class DatabaseProbe:
    def __init__(self, params: dict[str, Any] | None = None, alias: str = "default") -> None:
        self.alias = alias
        self._params = params
        self._connection: psycopg.AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Lock | None = None
        self._expired: weakref.WeakSet[psycopg.AsyncConnection] = weakref.WeakSet()
        # How many checks are using each connection (waiting for it included).
        self._users: dict[psycopg.AsyncConnection, int] = {}

    async def ping(self, within: float) -> Ping:
        started = time.perf_counter()
        async with self._using(within) as connection:
            await connection.execute("SELECT 1")
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return Ping(server_version=connection.info.parameter_status("server_version") or "", latency_ms=latency_ms)

    async def applied_migrations(self, within: float) -> set[tuple[str, str]]:
        async with self._using(within) as connection:
            exists = await (await connection.execute("SELECT to_regclass('django_migrations')")).fetchone()
            if exists is None or exists[0] is None:
                return set()
            rows = await (await connection.execute("SELECT app, name FROM django_migrations")).fetchall()
        return {(app, name) for app, name in rows}

    async def close(self) -> None:
        self.discard()

    # -- internals -------------------------------------------------------------------------------

    async def _params_for(self, within: float) -> dict[str, Any]:
        if self._params is None:
            # Once per process; for the embedded server this may start it (a subprocess): off the loop.
            wrapper = connections[self.alias]
            params = await sync_to_async(wrapper.get_connection_params, thread_sensitive=False)()
            self._params = {key: params[key] for key in PARAM_KEYS if params.get(key) not in (None, "")}
        return {**self._params, "connect_timeout": max(1, int(within + 0.999))}

    async def _connect(self, within: float) -> psycopg.AsyncConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): the old connection cannot serve it
            self._users.clear()  # checks left on the old loop never resume
            self.discard()
            self._loop, self._connecting = loop, asyncio.Lock()
        assert self._connecting is not None  # noqa: S101 - set with the loop, just above
        connection = self._connection
        if connection is not None and not connection.closed:
            return connection
        async with self._connecting:
            if self._connection is None or self._connection.closed:
                params = await self._params_for(within)
                # No prepared statements: behind PgBouncer in transaction mode the statement would be
                # prepared on one server connection and run, or prepared again, on another.
                self._connection = await psycopg.AsyncConnection.connect(
                    **params, autocommit=True, prepare_threshold=None
                )
            return self._connection

    def discard(self, connection: psycopg.AsyncConnection | None = None) -> None:
        """Drop a connection that failed (by default the current one) without a round trip: the
        server may be gone or hung. Only that one: a check that fails late, after others have
        connected afresh, must not take their new connection down with it.

        A connection checks are still using is shut down, not closed: their operations fail at
        once (end of stream), and the last of them closes it. Closing it under them would free
        libpq's connection while psycopg's C code still holds it (a use-after-free: seen here as a
        test process frozen for good inside ``PQconsumeInput``).
        """
        if connection is None:
            connection = self._connection
        if connection is None:
            return
        if self._connection is connection:
            self._connection = None
        if self._users.get(connection):
            _shut_down(connection)
        else:
            connection.pgconn.finish()

    @contextlib.asynccontextmanager
    async def _using(self, within: float) -> AsyncIterator[psycopg.AsyncConnection]:
        """The shared connection, under a deadline; failures classified, the failed one dropped.

        Past the deadline the connection is dropped rather than the query cancelled: psycopg answers
        a cancellation by asking the server to cancel and waiting for it, up to 10 s on a hung one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        timed_out = ProbeFailure("timeout", f"no answer within {within:g} s")
        connection = None
        try:
            async with asyncio.timeout_at(deadline):
                connection = await self._connect(within)
            expiry = loop.call_at(deadline, self._expire, connection)
            self._users[connection] = self._users.get(connection, 0) + 1
            try:
                yield connection
            finally:
                expiry.cancel()
                left = self._users.pop(connection, 1) - 1
                if left:
                    self._users[connection] = left
                elif connection is not self._connection:  # discarded while in use: the last one closes it
                    connection.pgconn.finish()
        except TimeoutError:
            raise timed_out from None
        except psycopg.Error as error:
            if connection is None:
                raise classify(error) from None
            self.discard(connection)
            # Dropped at this check's deadline, or at that of another check sharing it: no answer.
            raise (timed_out if connection in self._expired else classify(error)) from None

    def _expire(self, connection: psycopg.AsyncConnection) -> None:
        self._expired.add(connection)
        self.discard(connection)


def _shut_down(connection: psycopg.AsyncConnection) -> None:
    """End the connection's stream both ways, without a round trip and without closing it."""
    # On a duplicate of its descriptor: shutting that down ends the stream for libpq's one too.
    with contextlib.suppress(OSError, psycopg.Error), socket.socket(fileno=os.dup(connection.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def classify(error: psycopg.Error) -> ProbeFailure:
    """A failure kind and a detail that names no host, user or password."""
    text = str(error).lower()
    # PostgreSQL: role "x" does not exist; PgBouncer: no such user.
    unknown_role = ("role" in text and "does not exist" in text) or "no such user" in text
    if error.sqlstate in AUTH_SQLSTATES or unknown_role or "authentication failed" in text or "no password" in text:
        return ProbeFailure("auth", "the database rejected the credentials")
    if "connection refused" in text:
        return ProbeFailure("refused", "the database refused the connection")
    if "timeout" in text or "timed out" in text:
        return ProbeFailure("timeout", "the database did not answer in time")
    return ProbeFailure("error", f"the database failed ({type(error).__name__})")
