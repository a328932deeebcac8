"""Root URLs: the API under /api/, the admin under /admin/, Prometheus metrics at /metrics."""

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path

from backend.api import api
from backend.problems import api_path_not_found

urlpatterns = [
    path("api/", api.urls),
    re_path(r"^api/", api_path_not_found),  # after the API: any path it does not know
    path("admin/", admin.site.urls),
]
if settings.METRICS_ENABLED:
    from backend.metrics import metrics_view

    urlpatterns.append(path("metrics", metrics_view))

# Errors raised outside a Ninja operation (middleware: CSRF, a bad Host, a malformed body): problem
# details under /api/, Django's pages elsewhere.
handler400 = "backend.problems.bad_request"
handler403 = "backend.problems.permission_denied"
handler404 = "backend.problems.page_not_found"
handler500 = "backend.problems.server_error"
