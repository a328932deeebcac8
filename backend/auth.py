"""Ninja authentication: Django's session (the admin's or /api/auth/login's), CSRF enforced on
unsafe methods; and the CSRF check alone, for the login itself."""

from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from ninja.errors import AuthorizationError, HttpError
from ninja.security import APIKeyHeader, SessionAuth
from ninja.utils import check_csrf

from backend.async_middleware import SAFE_METHODS, User


class SessionRequest(HttpRequest):
    """The request an operation with session auth gets (for annotations): Ninja sets ``auth`` to
    what the auth returned, the logged-in user."""

    auth: AbstractBaseUser


class UserSession(SessionAuth):
    """No session: 401. Unsafe methods need the CSRF token (403).

    Sync, as Ninja's own: an async operation runs it in the request's thread. (An async __call__
    would serve async operations without that hop, but Ninja runs it for sync operations through
    async_to_sync, and that left a reference cycle per request.)"""

    def __call__(self, request: HttpRequest) -> User | None:
        if self.param_name not in request.COOKIES:
            return None  # anonymous: 401, before any CSRF verdict
        require_csrf_token(request)
        user = request.user
        return self.allow(user) if user.is_authenticated else None

    def allow(self, user: User) -> User:
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # abstract in Ninja; __call__ does the work
        raise NotImplementedError


class StaffSession(UserSession):
    """A session of a user who is not staff: 403."""

    def allow(self, user: User) -> User:
        if not getattr(user, "is_staff", False):  # any user model: Django's admin reads it so
            raise AuthorizationError(message="Staff only")
        return user


async def is_staff(request: HttpRequest) -> bool:
    """Whether a staff user's session comes with the request. Without a session cookie (a load
    balancer's probe) that is known at once, with no trip to the session store."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = await request.auser()
    return bool(user.is_authenticated and getattr(user, "is_staff", False))


class CSRFToken(APIKeyHeader):
    """For operations open to anyone that still change state (logging in): the CSRF check only.
    The class name is the security scheme's name in the schema (Ninja names schemes so)."""

    param_name = "X-CSRFToken"

    def __call__(self, request: HttpRequest) -> Literal[True]:
        require_csrf_token(request)
        return True

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # abstract in Ninja; __call__ does the work
        raise NotImplementedError


def require_csrf_token(request: HttpRequest) -> None:
    """Django's CSRF check (cookie against header, and the Origin) on unsafe methods; 403 if it fails."""
    if request.method in SAFE_METHODS:
        return
    # Read the body first: the check looks for a form field, and parsing a multipart form would
    # otherwise consume the stream the operation then reads its body from.
    request.body  # noqa: B018
    if check_csrf(request):
        raise HttpError(403, "CSRF check Failed")  # the problem names Django's reason (backend/problems.py)


user_session = UserSession()
staff_session = StaffSession()
csrf_token = CSRFToken()

# Django's double-submit CSRF check as OpenAPI security schemes (backend/api.py adds them to
# unsafe session operations), so generated clients and fuzzers know: the header carries the token
# from GET /api/auth/csrf, and the cookie that call set goes with it (a browser sends it by itself).
CSRF_SCHEMES = {
    "CSRFToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "The token from GET /api/auth/csrf, on every unsafe request made with a session.",
    },
    "CSRFCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "csrftoken",
        "description": "The cookie GET /api/auth/csrf sets; the browser sends it.",
    },
}
# The operations that carry one of these need the CSRF token and cookie on unsafe methods.
CSRF_REQUIRING_SCHEMES = {"UserSession", "StaffSession", "CSRFToken"}
