"""The current request's id, in a context variable: seen by async and sync code of that request."""

import re
from contextvars import ContextVar, Token

from backend.db.uuid7 import uuid7

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def accept_request_id(incoming: str | None) -> str:
    """The client's id when it is well-formed, else a new UUIDv7."""
    if incoming and VALID_ID.fullmatch(incoming):
        return incoming
    return str(uuid7())


def bind_request_id(request_id: str) -> Token[str | None]:
    """Set the id for the current context; returns the token to reset it with."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)
