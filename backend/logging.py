"""Log records carry the request id; LOG_FORMAT=json writes one JSON object per line."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest

from backend.request_context import current_request_id

# Attributes every LogRecord has; anything else on a record was passed with `extra=` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry |= {key: _plain(value) for key, value in vars(record).items() if key not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _plain(value: object) -> object:
    # Django's request logger passes the request: its repr holds the query string, which can
    # carry tokens. The method and path only, as in the access log.
    if isinstance(value, HttpRequest):
        return f"{value.method} {value.path}"
    return value


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "console": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["request_id"]},
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # Django installs its own handlers on these; one handler (ours, at the root) is enough.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            # The access log has every 4xx already; Django still reports 5xx (with traces outside the API).
            "django.request": {"level": "ERROR", "propagate": True},
            "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
            "uvicorn.access": {"level": "WARNING", "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.error": {"handlers": [], "propagate": True},
        },
    }
