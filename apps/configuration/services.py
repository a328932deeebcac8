"""What the configuration endpoints report; nothing here returns a password."""

from typing import Any

from django.conf import settings
from django.db import DatabaseError

from backend.checks import configuration_issues, database_role_issues
from backend.db.budget import budget_issues
from backend.db.pools import pool_stats
from backend.db.postgresql.base import DatabaseWrapper
from backend.db.probe import DatabaseProbe, ProbeFailure


def configuration_validate() -> dict[str, Any]:
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    try:
        role_issues = database_role_issues()
    except DatabaseError:
        role_issues = []  # GET /api/config/database/status says why
    for issue in configuration_issues() + role_issues + budget_issues():
        item = {"id": issue.id or "", "message": issue.msg, "hint": issue.hint or ""}
        (errors if issue.is_serious() else warnings).append(item)
    return {"valid": not errors, "environment": settings.APP_ENV, "errors": errors, "warnings": warnings}


async def database_test() -> dict[str, Any]:
    """A live round trip on a fresh connection to the configured database, within DB_CONNECT_TIMEOUT."""
    probe = DatabaseProbe()
    try:
        ping = await probe.ping(settings.DB_CONNECT_TIMEOUT)
    except ProbeFailure as failure:
        return {"ok": False, "latency_ms": None, "server_version": None, "error": failure.detail}
    finally:
        await probe.close()
    return {"ok": True, "latency_ms": ping.latency_ms, "server_version": ping.server_version, "error": None}


async def database_status() -> dict[str, Any]:
    database = settings.DATABASES["default"]
    test = await database_test()
    port = database.get("PORT") or (DatabaseWrapper.embedded_port() if database.get("EMBEDDED") else None)
    return {
        "source": database["SOURCE"],
        "host": database["HOST"],
        "port": int(port) if port else None,
        "name": database["NAME"],
        "user": database["USER"],
        "sslmode": database["OPTIONS"].get("sslmode", ""),
        # The embedded server's password comes from its folder, not from the settings.
        "password_set": bool(database.get("PASSWORD") or database.get("EMBEDDED")),
        "pool": pool_stats(),
        "connected": test["ok"],
        "server_version": test["server_version"],
    }
