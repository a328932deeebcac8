"""Liveness, database and readiness checks: async, bounded in time, never cached."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from apps.health import services
from apps.health.schemas import DatabaseHealth, Liveness, NotReadyProblem, Readiness
from backend.auth import is_staff
from backend.db.probe import ProbeFailure
from backend.problems import ERROR_RESPONSES, problem_response

router = Router(tags=["health"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "",
    response={200: Liveness, **ERROR_RESPONSES},
    operation_id="getHealth",
    summary="Liveness: the process answers (touches no database)",
)
async def get_health(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    response["Cache-Control"] = "no-store"
    return services.liveness()


@router.get(
    "/db",
    response={200: DatabaseHealth, **ERROR_RESPONSES},
    operation_id="checkDatabase",
    summary="One round trip to the database, within DB_HEALTH_TIMEOUT",
    description="The server's version and the pool's numbers are given to staff sessions only (null otherwise).",
)
async def check_database(request: HttpRequest, response: HttpResponse) -> dict[str, Any] | HttpResponse:
    try:
        result = await services.database_health(details=await is_staff(request))
    except ProbeFailure as failure:
        return problem_response(request, 503, f"database-{failure.kind}", failure.detail, headers=NO_STORE)
    response["Cache-Control"] = "no-store"
    return result


@router.get(
    "/ready",
    response={200: Readiness, **ERROR_RESPONSES, 503: NotReadyProblem},
    operation_id="checkReadiness",
    summary="Ready for traffic: the database answers and every migration is applied",
    description='Each check is "ok" or, when it fails, "failing"; staff sessions get what is wrong instead.',
)
async def check_readiness(request: HttpRequest, response: HttpResponse) -> dict[str, Any] | HttpResponse:
    checks = await services.readiness(details=await is_staff(request))
    failing = [name for name, outcome in checks.items() if outcome != "ok"]
    if failing:
        reasons = [name if checks[name] == "failing" else f"{name} ({checks[name]})" for name in failing]
        detail = "failing checks: " + ", ".join(reasons)
        return problem_response(request, 503, "not-ready", detail, headers=NO_STORE, checks=checks)
    response["Cache-Control"] = "no-store"
    return {"status": "ok", "checks": checks}
