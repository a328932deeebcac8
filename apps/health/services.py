"""What the health endpoints report, as plain functions testable without HTTP."""

import time

from django.conf import settings

from backend.version import VERSION

STARTED_AT = time.monotonic()


def liveness() -> dict:
    return {
        "status": "ok",
        "version": VERSION,
        "environment": settings.APP_ENV,
        "uptime_seconds": round(time.monotonic() - STARTED_AT, 3),
    }
