"""Django's psycopg connection pools, seen process-wide."""

from django.db.backends.postgresql.base import DatabaseWrapper


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
