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


urlpatterns = [path("test/slow", slow), path("api/test/", api.urls), *project_urls]
