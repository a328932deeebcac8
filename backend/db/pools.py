"""Django's psycopg connection pools, seen process-wide.

Django keeps them on ``DatabaseWrapper._connection_pools`` (a private class attribute, Django 6.1,
pinned in pyproject.toml); tests/backend/test_asgi_handler.py reads it through pool_stats.
"""

from typing import Any

from django.db.backends.postgresql.base import DatabaseWrapper
from psycopg_pool import ConnectionPool


def without_pools() -> None:
    """For management commands: they use a connection or two and exit, and a pool would only
    retry a database that is down for its whole timeout, logging every try."""
    from django.conf import settings  # noqa: PLC0415 - read on call: settings load from the environment

    for database in settings.DATABASES.values():
        database.get("OPTIONS", {}).pop("pool", None)


def _pools() -> dict[str, ConnectionPool]:
    pools: dict[str, ConnectionPool] = DatabaseWrapper._connection_pools  # type: ignore[attr-defined]
    return pools


def close_pools() -> None:
    """Close every pool this process opened (the pools are per process, kept on the class)."""
    pools = _pools()
    for alias, pool in list(pools.items()):
        pool.close()
        pools.pop(alias, None)


def pool_stats(alias: str = "default") -> dict[str, Any] | None:
    """The pool's size and use, or None before this process opened it."""
    pool = _pools().get(alias)
    if pool is None:
        return None
    stats = pool.get_stats()
    return {
        "min_size": stats["pool_min"],
        "max_size": stats["pool_max"],
        "size": stats["pool_size"],
        "available": stats["pool_available"],
        "waiting": stats["requests_waiting"],
    }
