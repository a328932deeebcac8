"""Django's psycopg connection pools, seen process-wide."""

from django.db.backends.postgresql.base import DatabaseWrapper


def without_pools() -> None:
    """For management commands: they use a connection or two and exit, and a pool would only
    retry a database that is down for its whole timeout, logging every try."""
    from django.conf import settings  # noqa: PLC0415 - read on call: settings load from the environment

    for database in settings.DATABASES.values():
        database.get("OPTIONS", {}).pop("pool", None)


def close_pools() -> None:
    """Close every pool this process opened (the pools are per process, kept on the class)."""
    for alias, pool in list(DatabaseWrapper._connection_pools.items()):
        pool.close()
        DatabaseWrapper._connection_pools.pop(alias, None)


def pool_stats(alias: str = "default") -> dict | None:
    """The pool's size and use, or None before this process opened it."""
    pool = DatabaseWrapper._connection_pools.get(alias)
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
