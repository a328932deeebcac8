import uuid

from django.conf import settings
from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import path
from ninja import NinjaAPI

from apps.accounts.models import User
from backend import problems
from config.urls import urlpatterns as project_urls


def slow(request):
    """A request that holds a pooled connection for a while: pg_sleep(seconds) in a transaction."""
    seconds = float(request.GET.get("seconds", "2"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"slept": seconds})


# ORM endpoints as product teams write them: Ninja, with the project's error handling.
api = NinjaAPI(urls_namespace="serving-tests", docs_url=None, openapi_url=None)
problems.install(api)


@api.get("/orm-async")
async def orm_async(request):
    return {"users": await User.objects.acount()}


@api.get("/orm-sync")
def orm_sync(request):
    return {"users": User.objects.count()}


@api.get("/users/{user_id}")
async def user_by_id(request, user_id: uuid.UUID):
    user = await User.objects.aget(pk=user_id)  # missing: the project's 404 problem
    return {"username": user.username}


@api.get("/boom")
def boom(request):
    """An unhandled error, with secrets in its local variables, as careless code might hold them."""
    session_key = request.COOKIES.get("sessionid")
    bearer = request.headers.get("Authorization")
    database = settings.DATABASES["default"]
    raise RuntimeError(f"boom while holding {len(session_key or '')}, {bool(bearer)}, {database['NAME']}")


urlpatterns = [path("test/slow", slow), path("api/test/", api.urls), *project_urls]
