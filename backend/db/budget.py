"""The connection budget: the connections this host's workers may open, against what the server
allows. Each worker holds its pool (up to DB_POOL_MAX_SIZE) and the health check's connection."""

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections

HEALTH_CONNECTIONS = 1  # per worker: backend/db/probe.py's dedicated connection
HINT = (
    "Lower WEB_CONCURRENCY or DB_POOL_MAX_SIZE, raise the server's max_connections, or put PgBouncer "
    "in front (README, 'PgBouncer and sizing')."
)


@dataclass(frozen=True)
class Budget:
    workers: int
    pool_max: int
    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections (PostgreSQL 16+)

    @property
    def needed(self) -> int:
        return self.workers * (self.pool_max + HEALTH_CONNECTIONS)

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved

    def issues(self) -> list[checks.CheckMessage]:
        if self.needed <= self.available:
            return []
        message = (
            f"This host's {self.workers} workers x ({self.pool_max} pooled + {HEALTH_CONNECTIONS} health) = "
            f"{self.needed} database connections, more than the {self.available} the server allows "
            f"(max_connections {self.max_connections} - {self.reserved} reserved)."
        )
        return [checks.Warning(message, hint=HINT, id="backend.W008")]


LIMITS = (
    "SELECT current_setting('max_connections')::int,"
    " current_setting('superuser_reserved_connections')::int"
    " + coalesce(current_setting('reserved_connections', true)::int, 0)"
)


def behind_pgbouncer() -> bool:
    # The server then sees PgBouncer's pool, not the workers' (README, "PgBouncer and sizing").
    return settings.DATABASES["default"].get("POOLER") == "pgbouncer"


def this_host(limits: tuple[int, int] | None, workers: int | None = None) -> Budget:
    pool_max = settings.DATABASES["default"].get("POOL_MAX_SIZE", 1)
    max_connections, reserved = limits or (0, 0)
    return Budget(workers or settings.WEB_CONCURRENCY, pool_max, max_connections, reserved)


def budget_issues(workers: int | None = None) -> list[checks.CheckMessage]:
    """W008 when this host alone would exceed the server's connections; nothing when the server
    cannot be asked (the readiness check says why)."""
    return _issues(_limits_through_django, workers)


def budget_issues_before_fork() -> list[checks.CheckMessage]:
    """The same, for gunicorn's master: on a connection of its own, closed at once, so that no
    pool or connection of Django's is made in the process the workers are forked from."""
    return _issues(_limits_on_own_connection)


def _issues(limits: Callable[[], tuple[int, int] | None], workers: int | None = None) -> list[checks.CheckMessage]:
    if behind_pgbouncer():
        return []
    try:
        return this_host(limits(), workers).issues()
    except (DatabaseError, psycopg.Error):
        return []


def _limits_through_django() -> tuple[int, int] | None:
    with connections["default"].cursor() as cursor:
        cursor.execute(LIMITS)
        row: tuple[int, int] | None = cursor.fetchone()
        return row


def _limits_on_own_connection() -> tuple[int, int] | None:
    params = connections["default"].get_connection_params()
    params["connect_timeout"] = 2  # a database that does not answer must not hold up the start for long
    with psycopg.connect(**params) as connection:
        return connection.execute(LIMITS).fetchone()
