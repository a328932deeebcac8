from django.db import connection
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as project_urls


def slow(request):
    """A request that holds a pooled connection for a while: pg_sleep(seconds)."""
    seconds = float(request.GET.get("seconds", "2"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"slept": seconds})


urlpatterns = [path("test/slow", slow), *project_urls]
