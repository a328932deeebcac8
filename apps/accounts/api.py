"""Session authentication for the frontend: /api/auth/csrf, login, logout, me."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from ninja import Router, Status

from apps.accounts import services
from apps.accounts.schemas import Credentials, CSRFTokenOut, CurrentUser, LoginResult
from backend.auth import SessionRequest, csrf_token, user_session
from backend.problems import ERROR_RESPONSES, Problem

router = Router(tags=["auth"])


@router.get("/csrf", response={200: CSRFTokenOut, **ERROR_RESPONSES}, operation_id="getCsrfToken")
async def get_csrf_token(request: HttpRequest, response: HttpResponse) -> dict[str, str]:
    """Sets the CSRF cookie and returns its token: a page on another origin cannot read the cookie."""
    response["Cache-Control"] = "no-store"
    return {"csrf_token": get_token(request)}


@router.post(
    "/login",
    auth=csrf_token,
    response={200: LoginResult, 429: Problem, **ERROR_RESPONSES},
    operation_id="login",
)
async def login(request: HttpRequest, credentials: Credentials) -> dict[str, Any]:
    """Logs in with a username and password: a new session (cookie) and a new CSRF token. A wrong
    username or password is one 401 `invalid-credentials`; too many failures, 429 with Retry-After."""
    return await services.log_in(request, credentials.username, credentials.password)


@router.post("/logout", auth=user_session, response={204: None, **ERROR_RESPONSES}, operation_id="logout")
async def logout(request: HttpRequest) -> Status[None]:
    """Ends the session."""
    await services.log_out(request)
    return Status(204, None)


@router.get("/me", auth=user_session, response={200: CurrentUser, **ERROR_RESPONSES}, operation_id="getCurrentUser")
async def get_current_user(request: SessionRequest) -> AbstractBaseUser:
    """The logged-in user; 401 when anonymous."""
    return request.auth
