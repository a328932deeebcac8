"""UUIDv7 (RFC 9562) ids: generated in the app by uuid-utils, and by the database for plain SQL."""

import uuid

from django.db.models import Func, UUIDField
from uuid_utils.compat import uuid7 as _uuid7


def uuid7() -> uuid.UUID:
    """A time-ordered UUID, monotonic within the process (a standard ``uuid.UUID``)."""
    return _uuid7()


class UUIDv7(Func):
    """``uuidv7()`` in SQL: built into PostgreSQL 18, installed by backend's migration on 15-17."""

    function = "uuidv7"
    template = "%(function)s()"
    output_field = UUIDField()
