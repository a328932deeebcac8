"""URLs for the problem tests: a NinjaAPI with the project's error handling and failing endpoints."""

import asyncio

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import OperationalError
from django.http import Http404
from django.urls import path
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError

from backend import problems
from backend.auth import staff_session
from backend.request_context import current_request_id

api = NinjaAPI(urls_namespace="problem-tests", docs_url=None)
problems.install(api)


class Item(Schema):
    name: str
    quantity: int


@api.post("/items", response={200: Item, **problems.ERROR_RESPONSES})
def create_item(request, item: Item, dry_run: bool = False):
    return item


@api.get("/http-error")
def http_error(request):
    raise HttpError(409, "That name is taken")


@api.get("/http404")
def not_found(request):
    raise Http404("no such thing")


@api.get("/missing-object")
def missing_object(request):
    raise ObjectDoesNotExist("no row with secret-id 42")


@api.get("/denied")
def denied(request):
    raise PermissionDenied


@api.post("/staff-only", auth=staff_session)
def staff_only(request):
    return {"ok": True}


@api.get("/crash")
def crash(request):
    raise RuntimeError("SELECT password FROM secrets -- internal detail")


@api.get("/database-down")
def database_down(request):
    raise OperationalError("connection to server at 10.0.0.5 failed")


@api.get("/echo-request-id")
async def echo_request_id(request, pause_ms: int = 0):
    """What the request context says mid-request, after yielding to other requests."""
    await asyncio.sleep(pause_ms / 1000)
    return {"request_id": current_request_id()}


urlpatterns = [path("api/", api.urls)]
