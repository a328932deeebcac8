"""Session login for the frontend: credentials checked by Django's authentication backends,
failures throttled (apps/accounts/throttle.py), one answer for a wrong username or password."""

from typing import Any

from django.contrib.auth import aauthenticate, alogin, alogout, get_user_model
from django.http import HttpRequest
from django.middleware.csrf import get_token

from apps.accounts.throttle import LoginAttempt
from backend.problems import ClientProblem


async def log_in(request: HttpRequest, username: str, password: str) -> dict[str, Any]:
    """The user, logged in with a new session key and CSRF token; or a 401, 403 or 429 problem."""
    attempt = LoginAttempt(address=request.META.get("REMOTE_ADDR") or "unknown", username=username)
    if (seconds := await attempt.retry_after()) is not None:
        raise ClientProblem(
            429,
            "too-many-requests",
            "Too many failed logins",
            f"Too many failed logins from this address or for this username; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    user = await aauthenticate(request, username=username, password=password)
    if user is None:
        if await is_inactive_with(username, password):
            raise ClientProblem(403, "account-inactive", "Account inactive", "This account is inactive")
        await attempt.failed()
        raise ClientProblem(401, "invalid-credentials", "Invalid credentials", "The username or password is wrong")
    # A new session key every time: Django's login keeps the key of a session already logged in as
    # this user, and cycles it otherwise.
    await request.session.acycle_key()
    await alogin(request, user)  # and a new CSRF token
    await attempt.succeeded()
    return {"user": user, "csrf_token": get_token(request)}


async def is_inactive_with(username: str, password: str) -> bool:
    """Whether these are the right credentials of an inactive user (Django's backends answer None
    for them, as for wrong ones)."""
    User = get_user_model()  # noqa: N806 - a class
    user = await User._default_manager.filter(**{User.USERNAME_FIELD: username}, is_active=False).afirst()
    return user is not None and await user.acheck_password(password)


async def log_out(request: HttpRequest) -> None:
    await alogout(request)
