"""ASGI entry point (uvicorn, gunicorn with uvicorn workers). Refuses an unsafe production setup."""

import os

from backend.asgi_handler import get_asgi_application
from backend.errors import exit_on_startup_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

with exit_on_startup_error():
    application = get_asgi_application()

    from backend.checks import guard_production

    guard_production()
