"""WSGI entry point, for servers without ASGI. Refuses an unsafe production setup."""

import os

from django.core.wsgi import get_wsgi_application

from backend.errors import exit_on_startup_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

with exit_on_startup_error():
    application = get_wsgi_application()

    from backend.checks import guard_production

    guard_production()
