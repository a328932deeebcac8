"""Django's psycopg connection pools, seen process-wide."""

from django.db.backends.postgresql.base import DatabaseWrapper


def close_pools() -> None:
    """Close every pool this process opened (the pools are per process, kept on the class)."""
    for alias, pool in list(DatabaseWrapper._connection_pools.items()):
        pool.close()
        DatabaseWrapper._connection_pools.pop(alias, None)
