"""The one thread an async request's sync code runs in, reused across requests.

Django serves each ASGI request in a ``ThreadSensitiveContext``: its sync code (the ORM's
a-methods, sync views, middleware hooks that do I/O) runs in one thread started for that request
and joined after it. Here the request takes that one thread from a set of idle ones on its first
sync call and gives it back when it ends: the same guarantees (one thread per request, its calls in
order, so a transaction stays in that thread), without a thread started and joined per request.
After each call, the connections no transaction holds go back to the pool (``_releasing_connections``
says why). asgiref's public ``ThreadSensitiveContext(executor=...)`` (3.13) takes the executor.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from django.db import connections

# Idle threads kept for the next requests; more are started when more requests need one at once.
KEEP_IDLE = 64


class IdleThreads:
    """Single-thread executors waiting for a request. Used from the event loop's thread only."""

    def __init__(self, keep: int = KEEP_IDLE) -> None:
        self._idle: collections.deque[ThreadPoolExecutor] = collections.deque()
        self._keep = keep

    def take(self) -> ThreadPoolExecutor:
        try:
            return self._idle.pop()  # the most recently used: its stack and caches are warm
        except IndexError:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, thread: ThreadPoolExecutor) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(thread)
        else:
            thread.shutdown(wait=False)

    def __len__(self) -> int:
        return len(self._idle)


IDLE_THREADS = IdleThreads()


def _releasing_connections(owner: RequestThread, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run fn, then give the pool back every connection of this thread that no transaction holds.

    A connection is held while sync code runs or a transaction is open, not for the rest of the
    request (serializing the response, the middleware, sending it): with Django's pool that hold
    was the bottleneck, requests queueing for connections that idle requests kept. Session state
    (a SET without LOCAL, a temporary table, a session advisory lock) does not outlive the call:
    what needs one connection throughout runs in transaction.atomic, as behind PgBouncer.
    """
    try:
        return fn(*args, **kwargs)
    finally:
        holds = False
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and connection.autocommit and not connection.in_atomic_block:
                connection.close()
            holds = holds or connection.connection is not None
        owner.holds_connections = holds


class RequestThread(Executor):
    """One request's thread: taken on the first sync call, given back by ``release``."""

    def __init__(self, idle: IdleThreads = IDLE_THREADS) -> None:
        self._idle = idle
        self._thread: ThreadPoolExecutor | None = None
        self._last: Future[Any] | None = None
        # Whether the thread still held a connection after the request's last sync call (set there).
        self.holds_connections = False

    @property
    def used(self) -> bool:
        return self._thread is not None

    @property
    def busy(self) -> bool:
        """Whether sync code of the request still runs (a view whose request was cancelled by a
        disconnect runs to its end) or left a connection open: then the request's cleanup must
        run in the thread, after it."""
        return self.holds_connections or (self._last is not None and not self._last.done())

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._thread is None:
            self._thread = self._idle.take()
        self._last = self._thread.submit(_releasing_connections, self, fn, *args, **kwargs)
        return self._last

    def release(self) -> None:
        """Give the thread back. Work still queued on it (a sync call whose request was cancelled)
        runs first: the next request's calls wait behind it, in order."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._idle.give_back(thread)
