"""What the health endpoints report, as plain functions testable without HTTP."""

import time
from functools import cache
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.migrations.loader import MigrationLoader

from backend import metrics
from backend.db.pools import pool_stats
from backend.db.probe import DatabaseProbe, ProbeFailure
from backend.version import VERSION

STARTED_AT = time.monotonic()
probe = DatabaseProbe()


def liveness() -> dict[str, Any]:
    return {
        "status": "ok",
        "version": VERSION,
        "environment": settings.APP_ENV,
        "uptime_seconds": round(time.monotonic() - STARTED_AT, 3),
    }


async def database_health(details: bool) -> dict[str, Any]:
    """Raises ProbeFailure when the database does not answer within DB_HEALTH_TIMEOUT. The server's
    version and the pool's numbers only with details (staff): they help an attacker, not a probe."""
    ping = await probe.ping(settings.DB_HEALTH_TIMEOUT)
    if settings.METRICS_ENABLED:
        metrics.observe_probe(ping.latency_ms)
    return {
        "status": "ok",
        "database": {
            "vendor": "postgresql",
            "server_version": ping.server_version if details else None,
            "latency_ms": ping.latency_ms,
            "pool": pool_stats() if details else None,
        },
    }


@cache
def migrations_on_disk() -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """Every migration the code has, with what each replaces: loaded once per process."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {key: tuple(migration.replaces) for key, migration in loader.graph.nodes.items()}


def pending_migrations(applied: set[tuple[str, str]]) -> list[str]:
    pending = []
    for key, replaces in migrations_on_disk().items():
        if key in applied or (replaces and set(replaces) <= applied):
            continue
        pending.append(".".join(key))
    return sorted(pending)


async def readiness(details: bool) -> dict[str, str]:
    """Each check's outcome: "ok", or what is wrong with details (staff), else "failing"."""
    checks = await _readiness()
    if settings.METRICS_ENABLED:
        metrics.set_ready(all(outcome == "ok" for outcome in checks.values()))
    return checks if details else {name: "ok" if outcome == "ok" else "failing" for name, outcome in checks.items()}


async def _readiness() -> dict[str, str]:
    try:
        # Reading django_migrations is the round trip that proves the database answers.
        applied = await probe.applied_migrations(settings.DB_HEALTH_TIMEOUT)
    except ProbeFailure as failure:
        return {"database": failure.detail, "migrations": "unknown: the database did not answer"}
    if not migrations_on_disk.cache_info().currsize:
        await sync_to_async(migrations_on_disk, thread_sensitive=False)()  # reads files: off the loop, once
    pending = pending_migrations(applied)
    return {"database": "ok", "migrations": f"unapplied: {', '.join(pending)}" if pending else "ok"}
