"""RFC 9457 problem details: the one error shape of the API, and the one place that makes it.

Ninja's exception handlers cover what views raise; ``ProblemMiddleware`` (backend.middleware)
turns every other error response under /api/ (unknown path, 405, CSRF...) into the same shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from backend.request_context import current_request_id

logger = logging.getLogger("backend.errors")
CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"


class ProblemError(Schema):
    detail: str
    pointer: str | None = None
    parameter: str | None = None


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[ProblemError] | None = None


# The kinds of error, each with a stable type URI ("/problems/<kind>") and a title.
KINDS = {
    "bad-request": "Bad request",
    "malformed-body": "Malformed request body",
    "unauthenticated": "Authentication required",
    "forbidden": "Forbidden",
    "csrf-failed": "CSRF check failed",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "payload-too-large": "Request body too large",
    "validation-error": "Invalid request",
    "too-many-requests": "Too many requests",
    "internal-error": "Internal server error",
    "service-unavailable": "Service unavailable",
    "database-unavailable": "Database unavailable",
    "database-refused": "Database refused the connection",
    "database-timeout": "Database did not answer in time",
    "database-auth": "Database rejected the credentials",
    "not-ready": "Not ready",
}
KIND_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}


class ClientProblem(Exception):  # noqa: N818 - it is the problem the client gets, not a fault here
    """Raised by an app for an answer of its own: ``ClientProblem(401, "invalid-credentials",
    "Invalid credentials", "The username or password is wrong")``, with optional headers."""

    def __init__(self, status: int, kind: str, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail, self.headers = status, kind, title, detail, headers


def problem_type(kind: str) -> str:
    return TYPE_PREFIX + kind


def problem_body(
    request: HttpRequest,
    status: int,
    kind: str | None = None,
    detail: str | None = None,
    **extra: object,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    # Statuses without a kind of their own are typed by their phrase: 409 is "/problems/conflict".
    kind = kind or KIND_BY_STATUS.get(status) or phrase.lower().replace(" ", "-")
    return {
        "type": problem_type(kind),
        "title": KINDS.get(kind, phrase),
        "status": status,
        "detail": detail or phrase,
        "instance": request.path,
        "request_id": current_request_id() or getattr(request, "request_id", ""),
        **{key: value for key, value in extra.items() if value is not None},
    }


def problem_response(
    request: HttpRequest,
    status: int,
    kind: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> HttpResponse:
    body = problem_body(request, status, kind, detail, **extra)
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE, headers=headers)
    response.problem_type = body["type"]  # type: ignore[attr-defined]  # counted by backend.metrics
    return response


def is_problem(response: HttpResponseBase) -> bool:
    return str(response.get("Content-Type", "")).startswith(CONTENT_TYPE)


# -- Ninja exception handlers -------------------------------------------------------------------


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ninja/pydantic errors as RFC 9457 items: a JSON Pointer into the body, or the parameter."""
    items = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        source, path = (location[0], location[1:]) if location else ("body", [])
        message = error.get("msg", "invalid value")
        if source == "body":
            # Ninja puts the body parameter's name first; the pointer is into the JSON body itself.
            pointer_parts = path[1:] if len(path) > 1 else path
            pointer = "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in pointer_parts)
            items.append({"detail": message, "pointer": pointer if pointer_parts else ""})
        else:
            items.append({"detail": message, "parameter": path[-1] if path else source})
    return items


def on_client_problem(request: HttpRequest, exc: ClientProblem) -> HttpResponse:
    # The title is the app's (extra keys are written after the standard ones).
    return problem_response(request, exc.status, exc.kind, exc.detail, headers=exc.headers, title=exc.title)


def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = validation_errors(exc.errors)
    count = len(errors)
    detail = f"{count} invalid value{'s' if count != 1 else ''} in the request"
    return problem_response(request, 422, "validation-error", detail, errors=errors)


def client_error(exc: Exception) -> tuple[int, str, str] | None:  # noqa: PLR0911 - a return per kind
    """Status, kind and detail for an exception the client caused (a malformed body, a bad Host...),
    else None. Django answers these with 400 when middleware raises them; views get the same."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return 413, "payload-too-large", f"The request body exceeds the limit of {limit} bytes for form or JSON data"
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, "malformed-body", f"The request body has more than {limit} form fields"
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return 400, "malformed-body", f"The request body has more than {limit} files"
    if isinstance(exc, MultiPartParserError):
        # Django's messages name the fault ("Invalid boundary in multipart: None"), never data.
        return 400, "malformed-body", f"The multipart body cannot be parsed: {exc}"
    if isinstance(exc, UnreadablePostError):
        return 400, "malformed-body", "The request body could not be read completely"
    if isinstance(exc, DisallowedHost):
        return 400, "bad-request", "The Host header names a host this server does not serve"
    if isinstance(exc, SuspiciousOperation):
        return 400, "bad-request", "The request was rejected as malformed"
    if isinstance(exc, BadRequest):
        return 400, "bad-request", str(exc) or "The request is malformed"
    return None


def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    message = getattr(exc, "message", "") or str(exc)
    kind = None
    if isinstance(exc, AuthenticationError):
        kind, message = "unauthenticated", "This operation needs a logged-in session: log in first"
    elif isinstance(exc, AuthorizationError):
        kind = "forbidden"
    elif status == 403 and "CSRF" in message:
        reason = getattr(request, "csrf_failure_reason", "") or "CSRF token missing or incorrect."
        kind, message = "csrf-failed", f"CSRF check failed: {reason.rstrip('.')}"
    elif status == 400 and message.startswith("Cannot parse request body"):
        kind, message = "malformed-body", unparsable_body_detail(request, exc.__cause__)
    return problem_response(request, status, kind, message)


def unparsable_body_detail(request: HttpRequest, cause: BaseException | None) -> str:
    content_type = request.content_type or "none"
    if content_type != "application/json" and not content_type.endswith("+json"):
        return f"The request body must be JSON (Content-Type: application/json), not {content_type[:100]}"
    if isinstance(cause, UnicodeDecodeError):
        return "The request body is not valid UTF-8"
    if isinstance(cause, json.JSONDecodeError):
        return f"The request body is not valid JSON: {cause.msg} at line {cause.lineno} column {cause.colno}"
    return "The request body is not valid JSON"


def on_not_found(request: HttpRequest, exc: Exception | None) -> HttpResponse:
    return problem_response(request, 404, "not-found", "The requested resource does not exist")


async def api_path_not_found(request: HttpRequest) -> HttpResponse:
    """The view for paths under /api/ that no operation matches: the same problem, made directly.
    Left to Django, a miss raises Resolver404 and renders the HTML 404 page in a thread (a template
    lookup) only for ProblemMiddleware to replace it: several times the cost of a hit."""
    return on_not_found(request, None)


def on_permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(request, 403, "forbidden", "You do not have permission to do this")


def on_database_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.warning("database unavailable during %s %s", request.method, request.path, exc_info=exc)
    return problem_response(
        request,
        503,
        "database-unavailable",
        "The database is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


def on_exception(request: HttpRequest, exc: Exception) -> HttpResponse:
    known = client_error(exc)
    if known is not None:
        return problem_response(request, *known)
    # The trace goes to the log (with the request id); the body says nothing about the cause.
    logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return problem_response(request, 500, "internal-error", "An unexpected error occurred; it has been logged")


# -- Django's error views (config/urls.py), for errors raised outside a Ninja operation -----------
# Under /api/ they answer the problem with what went wrong; elsewhere Django's own pages.


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return HttpResponse("Request body too large", status=413, content_type="text/plain")
        return defaults.bad_request(request, exception)
    status, kind, detail = client_error(exception) or (400, "bad-request", "The request is malformed")
    return problem_response(request, status, kind, detail)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return on_permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return on_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request)
    return problem_response(request, 500, "internal-error", "An unexpected error occurred; it has been logged")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: Django's reasons ("CSRF cookie not set.") name what the client must fix."""
    if not is_api(request):
        return django_csrf_failure(request, reason)
    request.csrf_failure_reason = reason  # type: ignore[attr-defined]  # Ninja's session auth raises its own 403: see on_http_error
    return problem_response(request, 403, "csrf-failed", f"CSRF check failed: {reason.rstrip('.')}")


type Handler = Callable[[HttpRequest, Any], HttpResponse]  # each takes its own exception type

HANDLERS: list[tuple[type[Exception], Handler]] = [
    (ClientProblem, on_client_problem),
    (ValidationError, on_validation_error),
    (HttpError, on_http_error),
    (Http404, on_not_found),
    (ObjectDoesNotExist, on_not_found),
    (PermissionDenied, on_permission_denied),
    (OperationalError, on_database_error),
    (InterfaceError, on_database_error),
    (Exception, on_exception),
]


def install(api: NinjaAPI) -> None:
    for exception, handler in HANDLERS:
        api.add_exception_handler(exception, handler)


# Every operation declares these, so the generated client types every error it can get.
ERROR_RESPONSES = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 500: Problem, 503: Problem}
