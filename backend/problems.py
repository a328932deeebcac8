"""RFC 9457 problem details: the one error shape of the API, and the one place that makes it.

Ninja's exception handlers cover what views raise; ``ProblemMiddleware`` (backend.middleware)
turns every other error response under /api/ (unknown path, 405, CSRF...) into the same shape.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Schema
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


def problem_type(kind: str) -> str:
    return TYPE_PREFIX + kind


def problem_body(
    request: HttpRequest,
    status: int,
    kind: str | None = None,
    detail: str | None = None,
    **extra: object,
) -> dict:
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
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE, headers=headers)


def is_problem(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith(CONTENT_TYPE)


# -- Ninja exception handlers -------------------------------------------------------------------


def validation_errors(errors: list[dict]) -> list[dict]:
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


def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = validation_errors(exc.errors)
    count = len(errors)
    detail = f"{count} invalid value{'s' if count != 1 else ''} in the request"
    return problem_response(request, 422, "validation-error", detail, errors=errors)


def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    message = getattr(exc, "message", "") or str(exc)
    kind = None
    if isinstance(exc, AuthenticationError):
        kind = "unauthenticated"
    elif isinstance(exc, AuthorizationError):
        kind = "forbidden"
    elif status == 403 and "CSRF" in message:
        kind, message = "csrf-failed", "CSRF token missing or incorrect"
    elif status == 400 and message.startswith("Cannot parse request body"):
        kind, message = "malformed-body", "The request body is not valid JSON"
    return problem_response(request, status, kind, message)


def on_not_found(request: HttpRequest, exc: Exception | None) -> HttpResponse:
    return problem_response(request, 404, "not-found", "The requested resource does not exist")


async def api_path_not_found(request: HttpRequest) -> HttpResponse:
    """The view for paths under /api/ that no operation matches: the same problem, made directly.
    Left to Django, a miss raises Resolver404 and renders the HTML 404 page in a thread (a template
    lookup) only for ProblemMiddleware to replace it: several times the cost of a hit."""
    return on_not_found(request, None)


def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
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
    if isinstance(exc, RequestDataTooBig):
        return problem_response(request, 413, "payload-too-large", "The request body exceeds the size limit")
    if isinstance(exc, SuspiciousOperation):
        return problem_response(request, 400, "bad-request", "The request was rejected")
    # The trace goes to the log (with the request id); the body says nothing about the cause.
    logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return problem_response(request, 500, "internal-error", "An unexpected error occurred; it has been logged")


def install(api) -> None:
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(OperationalError, on_database_error)
    api.add_exception_handler(InterfaceError, on_database_error)
    api.add_exception_handler(Exception, on_exception)


# Every operation declares these, so the generated client types every error it can get.
ERROR_RESPONSES = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 500: Problem, 503: Problem}
