"""Django's ASGI handler without the thread hops a request that ran no sync code does not need.

Django sends ``request_started`` and closes the response (which sends ``request_finished``)
through ``sync_to_async``: hops to a thread created for each request, for receivers that act on
database connections the request opened (``close_old_connections``, ``reset_queries``) or reset
per-request state (``reset_urlconf``, ``close_caches``: a socket close at most). Connections can
only be opened by sync code, which runs in the request's thread (backend/request_threads.py, which
also gives a connection back after each sync call unless a transaction holds it); so when that
thread holds no connection, and no other sync receiver or resource closer is involved, the same
calls run inline on the event loop. Otherwise Django's path is taken as it is. The rest is
Django's ``handle`` (6.1), with its TaskGroup replaced (``respond_unless_disconnected`` says why)
and the body read only up to REQUEST_BODY_MAX_BYTES (``read_body_within_limit``).
Tests: tests/backend/test_asgi_handler.py.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import closing
from typing import IO, Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from backend.request_threads import RequestThread

# Set in the scope when the body is over the limit; RequestBodyMiddleware answers 413 for it.
BODY_TOO_LARGE = "backend.body_too_large"
END_OF_BODY = {"type": "http.request", "body": b"", "more_body": False}

type Message = Mapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type Receivers = tuple[list[Callable[..., Any]], list[Callable[..., Any]]]

# Django's own receivers of the request signals: no I/O unless sync code opened a connection.
INLINE_RECEIVERS = frozenset({close_old_connections, reset_queries, reset_urlconf, close_caches})


def request_thread_busy() -> bool:
    """Whether sync code of this request still runs in its thread or left a connection open there.
    Connections no transaction holds go back to the pool after each sync call
    (backend/request_threads.py), so usually neither, and the request signals need not go to the
    thread; when either, they go there and run after it, as in Django (the request's body, say,
    stays open for a sync view that outlives a disconnect)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.get(context) if context is not None else None
    return executor.busy if isinstance(executor, RequestThread) else executor is not None


def inline_receivers(signal: Signal, sender: object) -> Receivers | None:
    """The signal's receivers when they may run on the event loop, else None."""
    sync_receivers, async_receivers = signal._live_receivers(sender)  # private: pinned Django 6.1
    if set(sync_receivers) <= INLINE_RECEIVERS and not request_thread_busy():
        return sync_receivers, async_receivers
    return None


async def send_signal(signal: Signal, sender: object, **kwargs: Any) -> None:
    receivers = inline_receivers(signal, sender)
    if receivers is None:
        await signal.asend(sender=sender, **kwargs)
        return
    sync_receivers, async_receivers = receivers
    for receiver in sync_receivers:
        receiver(signal=signal, sender=sender, **kwargs)
    if async_receivers:
        await asyncio.gather(*(receiver(signal=signal, sender=sender, **kwargs) for receiver in async_receivers))


async def close_response(response: HttpResponseBase, request: HttpRequest) -> None:
    # Django registers request.close (the in-memory body, uploads) as a closer; files and streams
    # add their own. Only the request's, without uploads, is cheap enough for the event loop.
    # _resource_closers and _handler_class are the response's private attributes (Django 6.1).
    closers = response._resource_closers  # type: ignore[attr-defined]
    closers_inline = all(closer == request.close for closer in closers)
    uploads = hasattr(request, "_files")
    receivers = inline_receivers(signals.request_finished, response._handler_class)  # type: ignore[attr-defined]
    # Async receivers: Signal.send (which close() calls) runs them through async_to_sync, which
    # cannot run on the event loop; Django's path closes the response in a thread.
    if closers_inline and not uploads and receivers is not None and not receivers[1]:
        response.close()
    else:
        await sync_to_async(response.close)()


def skip_body(receive: Receive) -> Receive:
    async def receive_after_body() -> Message:
        while (message := await receive())["type"] == "http.request":
            pass
        return message

    return receive_after_body


class Handler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Django's, with the request's thread reused (backend/request_threads.py) instead of made.
        thread = RequestThread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            thread.release()

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            body_file = await self.read_body_within_limit(scope, receive)
        except RequestAborted:
            return

        with closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            await send_signal(signals.request_started, self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None  # noqa: S101 - Django gives one or the other
                body_file.close()
                await self.send_response(error_response, send)
                await sync_to_async(error_response.close)()
                return

            if scope.get(BODY_TOO_LARGE):
                receive = skip_body(receive)  # the unread rest of the body is not a disconnect
            response = await self.respond_unless_disconnected(request, receive, send)
            if response is None:
                await send_signal(signals.request_finished, self.__class__)
            else:
                await close_response(response, request)

    async def read_body_within_limit(self, scope: dict[str, Any], receive: Receive) -> IO[bytes]:
        """Django's read_body, which spools any size to disk, stopped at the limit: a body declared
        or found larger is not read (past the limit), and the scope says so."""
        limit = settings.REQUEST_BODY_MAX_BYTES
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            scope[BODY_TOO_LARGE] = True
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            if scope.get(BODY_TOO_LARGE):
                return END_OF_BODY
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                scope[BODY_TOO_LARGE] = True
                return END_OF_BODY
            return message

        return await self.read_body(receive_within_limit)

    async def respond_unless_disconnected(
        self, request: HttpRequest, receive: Receive, send: Send
    ) -> HttpResponseBase | None:
        """Django's TaskGroup semantics (a disconnect cancels the response; the listener is cancelled
        once the response is sent) without raising an exception on every request: Django raises one
        to leave its TaskGroup, and the exception group's tracebacks hold the request's frames in
        reference cycles that only the garbage collector frees (~80 objects per request, GC pauses
        of 20+ ms under load). Returns the response if one was made (it must be closed), else None."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - called from a task
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        responding = True

        def on_listener_done(listener: asyncio.Task[None]) -> None:
            if responding and not listener.cancelled():
                task.cancel()

        listener.add_done_callback(on_listener_done)
        response = None
        try:
            response = await self.run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if not listener.done() or listener.cancelled() or task.uncancel():
                raise  # cancelled from outside, not by the listener
            if (error := listener.exception()) is not None and not isinstance(error, RequestAborted):
                raise error from None
        finally:
            responding = False
            listener.cancel()
        return response


def get_asgi_application() -> Handler:
    django.setup(set_prefix=False)
    return Handler()
