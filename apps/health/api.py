from django.http import HttpRequest, HttpResponse
from ninja import Router

from apps.health import services
from apps.health.schemas import Liveness

router = Router(tags=["health"])


@router.get("", response=Liveness, operation_id="getHealth", summary="Liveness: the process answers")
async def get_health(request: HttpRequest, response: HttpResponse) -> dict:
    response["Cache-Control"] = "no-store"
    return services.liveness()
