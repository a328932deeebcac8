"""The API's edge: request ids, one access log line per request, and problem details for /api/.

Both middleware are async-native (and sync-capable for WSGI and Django's test client): under
ASGI they run on the event loop with no thread hop.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from backend.asgi_handler import BODY_TOO_LARGE
from backend.problems import is_problem, problem_response
from backend.request_context import HEADER, META_KEY, accept_request_id, bind_request_id, reset_request_id

access_log = logging.getLogger("backend.access")
API_PREFIX = "/api/"
# The next middleware (or view): sync under WSGI, a coroutine function under ASGI.
type GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class HybridMiddleware:
    """Async under ASGI (no thread hop), sync under WSGI; subclasses give both paths."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        return self.call_sync(request)

    def call_sync(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError

    # Typed views of get_response for each mode (no wrapper coroutine on the async hot path).
    def next_sync(self, request: HttpRequest) -> HttpResponseBase:
        return cast(HttpResponseBase, self.get_response(request))

    def next_async(self, request: HttpRequest) -> Awaitable[HttpResponseBase]:
        return cast(Awaitable[HttpResponseBase], self.get_response(request))


class RequestContextMiddleware(HybridMiddleware):
    """Bind the request id (X-Request-ID in, X-Request-ID out) and write the access log line."""

    def call_sync(self, request: HttpRequest) -> HttpResponseBase:
        started, token = self.begin(request)
        try:
            response = self.next_sync(request)
            return self.end(request, response, started)
        finally:
            self.after(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started, token = self.begin(request)
        try:
            response = await self.next_async(request)
            return self.end(request, response, started)
        finally:
            self.after(token)

    def begin(self, request: HttpRequest) -> tuple[float, Token[str | None]]:
        request_id = accept_request_id(request.META.get(META_KEY))
        request.request_id = request_id  # type: ignore[attr-defined]  # for problems made outside its context
        return time.perf_counter(), bind_request_id(request_id)

    def after(self, token: Token[str | None]) -> None:
        """Whatever happened, a cancellation (the client left) included."""
        reset_request_id(token)

    def end(self, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        response[HEADER] = request.request_id  # type: ignore[attr-defined]
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        # The path only: query strings can carry tokens, and bodies are never logged.
        access_log.info(
            "%s %s %s %.2fms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response


class RequestBodyMiddleware(HybridMiddleware):
    """Refuse a body over REQUEST_BODY_MAX_BYTES (413) before anything reads it; and a body on an
    API GET or HEAD that would otherwise succeed (400: RFC 9110 gives it no meaning, and proxies may
    read it as a smuggled request). Placed after the security and CORS middleware, so refusals
    carry their headers."""

    def call_sync(self, request: HttpRequest) -> HttpResponseBase:
        if refusal := self.body_too_large(request):
            return refusal
        return self.refuse_unexpected_body(request, self.next_sync(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if refusal := self.body_too_large(request):
            return refusal
        return self.refuse_unexpected_body(request, await self.next_async(request))

    @staticmethod
    def refuse_unexpected_body(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        # Decided after the (safe) view: an error it answers (405 for a POST-only path, 404, 401)
        # comes first, as the method or path is the greater mistake; only a success is replaced.
        if (
            response.status_code >= 400
            or request.method not in {"GET", "HEAD"}
            or not request.path.startswith(API_PREFIX)
        ):
            return response
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared == "0" and "HTTP_TRANSFER_ENCODING" not in request.META:
            return response
        response.close()
        detail = f"A {request.method} request takes no body; send the data as query parameters"
        return problem_response(request, 400, "bad-request", detail)

    @staticmethod
    def body_too_large(request: HttpRequest) -> HttpResponseBase | None:
        # The ASGI handler stops reading at the limit and says so in the scope; under WSGI the
        # declared length is all there is to go by.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        over = getattr(request, "scope", {}).get(BODY_TOO_LARGE) or (
            declared.isdigit() and int(declared) > settings.REQUEST_BODY_MAX_BYTES
        )
        if not over:
            return None
        detail = f"The request body exceeds the limit of {settings.REQUEST_BODY_MAX_BYTES} bytes"
        response = problem_response(request, 413, "payload-too-large", detail)
        if hasattr(request, "scope"):  # ASGI: the rest of the body is never read (WSGI servers refuse the header)
            response["Connection"] = "close"
        return response


class ProblemMiddleware(HybridMiddleware):
    """Turn any error response under /api/ that is not a problem yet (Ninja's 405, a 404 page...)
    into one, keeping its status, headers and cookies."""

    def call_sync(self, request: HttpRequest) -> HttpResponseBase:
        return self.convert(request, self.next_sync(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return self.convert(request, await self.next_async(request))

    @staticmethod
    def convert(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code < 400 or not request.path.startswith(API_PREFIX) or is_problem(response):
            return response
        problem = problem_response(request, response.status_code)
        for header, value in response.items():
            if header.lower() not in {"content-type", "content-length"}:
                problem[header] = value
        problem.cookies = response.cookies
        return problem
