"""ASGI entry point (uvicorn, gunicorn with uvicorn workers). Refuses an unsafe production setup."""

import os

from backend.asgi_handler import get_asgi_application
from backend.error_tracking import ASGIApp
from backend.errors import exit_on_startup_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

with exit_on_startup_error():
    application: ASGIApp = get_asgi_application()

    from backend.checks import guard_production

    guard_production()

    from django.conf import settings

    if settings.SENTRY_DSN:
        from backend.error_tracking import wrap

        application = wrap(application)
