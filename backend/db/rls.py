"""Row-level security: run code as a user (and tenant) that PostgreSQL policies can see.

The ids go to ``app.user_id`` / ``app.tenant_id`` with ``set_config(..., true)``: local to the
transaction, so a pooled connection never carries them into the next request. Policies read them
through ``CURRENT_USER_ID`` / ``CURRENT_TENANT_ID``. See the README for a worked example.
"""

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Concatenate

from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper
from django.http import HttpRequest

USER_SETTING = "app.user_id"
TENANT_SETTING = "app.tenant_id"
# SQL for policies: NULL (matching no row) when no user is set, rather than a cast error.
CURRENT_USER_ID = "NULLIF(current_setting('app.user_id', true), '')::uuid"
CURRENT_TENANT_ID = "NULLIF(current_setting('app.tenant_id', true), '')"


@contextlib.contextmanager
def acting_as(user_id: object, tenant_id: object = None, using: str = "default") -> Iterator[None]:
    """A transaction in which RLS policies see ``user_id`` (and ``tenant_id``); nested, or inside
    an outer transaction, the outer ids (or none) hold again after it."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true), current_setting(%s, true)", [USER_SETTING, TENANT_SETTING])
        outer = cursor.fetchone() or ("", "")
        _set_ids(cursor, user_id, tenant_id)
        yield
        # A released savepoint keeps set_config(..., true): put the outer ids back. (On an
        # exception the savepoint's rollback restores them.)
        _set_ids(cursor, *outer)


def _set_ids(cursor: CursorWrapper, user_id: object, tenant_id: object) -> None:
    cursor.execute(
        "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
        [USER_SETTING, str(user_id or ""), TENANT_SETTING, str(tenant_id or "")],
    )


def rls_scoped[**P, R](view: Callable[Concatenate[HttpRequest, P], R]) -> Callable[Concatenate[HttpRequest, P], R]:
    """The request-scoped form, for sync views: the view runs as ``request.user``
    (and ``request.tenant_id`` when a tenant middleware sets it)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R:
        user_id = request.user.pk if request.user.is_authenticated else None
        with acting_as(user_id, getattr(request, "tenant_id", None)):
            return view(request, *args, **kwargs)

    return wrapper
