"""Django's and whitenoise's middleware, run on the event loop under ASGI when they do no I/O.

Django's ``MiddlewareMixin`` runs every ``process_request``/``process_response`` of an async
request through ``sync_to_async``: a hop to the request's own thread, created for that request.
Most of these steps only read headers and set headers, so here they run inline; a step that may
touch the database (saving a changed session, storing messages, parsing a POST body for CSRF)
still goes to the thread, exactly as Django would run it. Under WSGI nothing changes.

The lazy attributes set on the request (``user``, ``auser``, ``_messages``) hold the request weakly:
Django's close over it, a reference cycle per request that only the garbage collector frees.
"""

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.contrib.messages.storage.base import BaseStorage
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject, empty
from whitenoise.middleware import WhiteNoiseMiddleware

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}

type User = AbstractBaseUser | AnonymousUser


class OnTheLoop(MiddlewareMixin):
    """For a MiddlewareMixin subclass: in async mode, call its hooks inline unless told not to."""

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = await self._run(self.request_needs_thread(request), self.process_request, request)
        get_response = cast(Callable[[HttpRequest], Awaitable[HttpResponseBase]], self.get_response)  # async mode
        response = response or await get_response(request)
        if hasattr(self, "process_response"):
            needs_thread = self.response_needs_thread(request, response)
            response = await self._run(needs_thread, self.process_response, request, response)
        return response

    @staticmethod
    async def _run(in_thread: bool, hook: Callable[..., Any], *args: Any) -> Any:
        if in_thread:
            return await sync_to_async(hook, thread_sensitive=True)(*args)
        return hook(*args)


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    pass


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """request.user stays lazy: nothing is queried until a view asks."""

    def process_request(self, request: HttpRequest) -> None:
        if not hasattr(request, "session"):
            super().process_request(request)  # raises Django's error: sessions must come first
        request_ref = weakref.ref(request)
        # Typed as the user itself; a lazy object stands in for it, as in Django's own middleware.
        request.user = SimpleLazyObject(partial(_user, request_ref))  # type: ignore[assignment]
        request.auser = partial(_auser, request_ref)  # type: ignore[assignment]


def _user(request_ref: weakref.ref[HttpRequest]) -> User:
    return auth.get_user(_alive(request_ref))


async def _auser(request_ref: weakref.ref[HttpRequest]) -> User:
    return await auth.auser(_alive(request_ref))


def _alive(request_ref: weakref.ref[HttpRequest]) -> HttpRequest:
    # Only the request's own attributes hold these, so the request is alive when they are called,
    # unless someone kept request.user and read it later (README, "Serving and speed").
    request = request_ref()
    if request is None:
        raise ReferenceError(
            "request.user (or auser, or messages) was read after its request was freed: "
            "read it while the request is handled, and keep the user, not the lazy object"
        )
    return request


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    """The session is loaded lazily; only a modified session needs saving (a query), or any
    session under SESSION_SAVE_EVERY_REQUEST. One that was only read (every request of a logged-in
    user) needs a Vary header, or its cookie deleted: no I/O, so on the event loop."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        if session is None:
            return False
        return session.modified or bool(settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    """The message storage is made on first use: API requests never pay for it."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(partial(_message_storage, weakref.ref(request)))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not _used(request):
            return response
        return super().process_response(request, response)

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage: BaseStorage = request._messages  # type: ignore[attr-defined]
        return _used(request) and (storage.used or storage.added_new)


def _message_storage(request_ref: weakref.ref[HttpRequest]) -> BaseStorage:
    return default_storage(_alive(request_ref))


def _used(request: HttpRequest) -> bool:
    storage = getattr(request, "_messages", None)
    return storage is not None and storage._wrapped is not empty


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    """The token check reads request.POST on unsafe methods (a body parse): that part in the thread."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django adapts process_view by its kind: a coroutine function is called as it is.
            self.process_view = self._process_view_async  # type: ignore[method-assign,assignment]

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)  # the token then lives in the session (a query)

    async def _process_view_async(
        self,
        request: HttpRequest,
        callback: Callable[..., HttpResponseBase],
        callback_args: tuple[Any, ...],
        callback_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        hook = csrf.CsrfViewMiddleware.process_view.__get__(self)
        args = (request, callback, callback_args, callback_kwargs)
        response: HttpResponseBase | None = await self._run(request.method not in SAFE_METHODS, hook, *args)
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]  # whitenoise ships no types
    """whitenoise, async-capable: the path lookup is a dict read; opening a file goes to a thread."""

    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        response: HttpResponseBase = super().__call__(request)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # development: looks on disk, for static URLs only (no WHITENOISE_ROOT here)
            static_file = None
            if request.path_info.startswith(self.static_prefix):
                static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            response: HttpResponseBase = await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
            if isinstance(response, StreamingHttpResponse) and not response.is_async:
                stream_in_thread(response)
            return response
        next_response: HttpResponseBase = await self.get_response(request)
        return next_response


def stream_in_thread(response: StreamingHttpResponse) -> None:
    """Serve a file response's chunks as an async iterator, each read in a thread. Django's ASGI
    handler would otherwise read the sync iterator itself, warning once per process."""
    chunks = iter(cast(Iterator[bytes], response.streaming_content))  # a sync iterator: is_async is False
    read = sync_to_async(partial(next, chunks, None), thread_sensitive=False)

    async def stream() -> AsyncIterator[bytes]:
        while (chunk := await read()) is not None:
            yield chunk

    response.streaming_content = stream()  # the file stays registered to be closed with the response
