"""Prometheus metrics: requests by route template, problems by type, the database pool and probe,
readiness; exposed at /metrics (README, "Metrics and error tracking").

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (config/gunicorn.py
prepares it before the workers start; prometheus_client chooses file-backed values when it is first
imported), and a scrape of any worker reads them all. Without it (`make run`, the tests) the
values live in this process, with the standard process and GC collectors beside them.

Recording happens in ``RequestMetricsMiddleware`` on the event loop: no thread hop is added to a request.
"""

import hmac
import os
import re
import time
from contextvars import Token
from functools import cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    generate_latest,
    multiprocess,
)

from backend.auth import is_staff
from backend.db.pools import pool_stats
from backend.middleware import GetResponse, RequestContextMiddleware
from backend.problems import api_path_not_found, problem_response
from backend.version import VERSION

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "<unmatched>"  # no URL pattern: one label for every unknown path, whatever it is
STATIC = "<static>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other: "other"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
SAMPLE_SECONDS = 1.0

# Its _count is the number of requests: a counter beside it would cost a third more per request.
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Requests answered, and the time from the first middleware to the response, by route template.",
    ["route", "method", "status"],
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being answered, summed over workers; each worker's as of its last second or scrape.",
    multiprocess_mode="livesum",
)
PROBLEMS = Counter("http_problems", "Problem responses (RFC 9457), by type.", ["type"])
POOL = Gauge(
    "db_pool_connections",
    "Django's connection pool: size (open), in_use, waiting (requests queued for one), max; summed over workers.",
    ["alias", "state"],
    multiprocess_mode="livesum",
)
PROBE_LATENCY = Histogram(
    "db_health_probe_duration_seconds",
    "Round trip of /api/health/db's SELECT 1.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
READY = Gauge("app_ready", "1 if the last readiness check passed, else 0.", multiprocess_mode="livemostrecent")
INFO = Gauge("app_info", "The version and APP_ENV (value 1).", ["version", "environment"], multiprocess_mode="max")


class Gauges:
    """This worker's in-flight count, kept in memory and written to the gauges as they are sampled:
    each gauge write is a locked write to a shared file, too dear for twice a request."""

    in_flight = 0
    in_flight_written = 0
    next_sample = 0.0


_latency: dict[tuple[str, str, str], Histogram] = {}  # the labelled children, looked up once per label set


@cache
def route_template(route: str) -> str:
    """Django's route as the client sees it: api/users/<uuid:id> -> /api/users/{id}."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def route_label(request: HttpRequest) -> str:
    match = request.resolver_match
    if match is None:  # answered before URL resolution (a static file) or matching no pattern
        return STATIC if request.path.startswith(settings.STATIC_URL) else UNMATCHED
    if match.func is api_path_not_found:  # the API's catch-all for paths it does not know
        return UNMATCHED
    return route_template(match.route)


def record(request: HttpRequest, response: HttpResponseBase, seconds: float) -> None:
    method = request.method if request.method in METHODS else "other"
    key = (route_label(request), method, STATUS_CLASSES[min(response.status_code // 100, 5) - 1])
    latency = _latency.get(key)
    if latency is None:
        latency = _latency[key] = LATENCY.labels(*key)
    latency.observe(seconds)
    problem_type = getattr(response, "problem_type", None)
    if problem_type is not None:
        PROBLEMS.labels(problem_type).inc()
    if time.monotonic() >= Gauges.next_sample:
        sample_gauges()


def write_in_flight() -> None:
    IN_FLIGHT.set(Gauges.in_flight)
    Gauges.in_flight_written = Gauges.in_flight


def sample_gauges() -> None:
    """This worker's in-flight count and pool numbers into the gauges: at most once a second as
    requests end, and at every scrape of this worker."""
    Gauges.next_sample = time.monotonic() + SAMPLE_SECONDS
    write_in_flight()
    stats = pool_stats()
    if stats is None:  # no ORM query in this worker yet: an empty pool of its configured size
        stats = {"size": 0, "available": 0, "waiting": 0, "max_size": settings.DATABASES["default"]["POOL_MAX_SIZE"]}
    for state, value in (
        ("size", stats["size"]),
        ("in_use", stats["size"] - stats["available"]),
        ("waiting", stats["waiting"]),
        ("max", stats["max_size"]),
    ):
        POOL.labels("default", state).set(value)


def observe_probe(latency_ms: float) -> None:
    PROBE_LATENCY.observe(latency_ms / 1000)


def set_ready(ready: bool) -> None:
    READY.set(1 if ready else 0)


class RequestMetricsMiddleware(RequestContextMiddleware):
    """RequestContextMiddleware that also counts and times each request. The first middleware, so
    it sees the final status and problem; one layer with the access log rather than a middleware of
    its own, which cost as much again as the recording (measured: README, "Metrics and error tracking")."""

    def __init__(self, get_response: GetResponse) -> None:
        super().__init__(get_response)
        INFO.labels(VERSION, settings.APP_ENV).set(1)

    def begin(self, request: HttpRequest) -> tuple[float, Token[str | None]]:
        Gauges.in_flight += 1
        return super().begin(request)

    def after(self, token: Token[str | None]) -> None:
        Gauges.in_flight -= 1
        if Gauges.in_flight == 0 and Gauges.in_flight_written:
            write_in_flight()  # gone idle: say so now, not up to a second later
        super().after(token)

    def end(self, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        record(request, response, time.perf_counter() - started)
        return super().end(request, response, started)


def exposition() -> bytes:
    """Every worker's values (multiprocess), else this process's registry, in the text format."""
    sample_gauges()
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    PlatformCollector(registry)  # python_info: the same in every worker
    return generate_latest(registry)


async def metrics_view(request: HttpRequest) -> HttpResponseBase:
    """GET /metrics. In production only for a staff session or the METRICS_TOKEN bearer token."""
    if settings.METRICS_PROTECTED and (refusal := await refuse_scrape(request)):
        return refusal
    # Reading the workers' files is file I/O: off the event loop (a scrape is not the hot path).
    body = await sync_to_async(exposition, thread_sensitive=False)()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


async def refuse_scrape(request: HttpRequest) -> HttpResponse | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="metrics"'}
    if scheme.lower() == "bearer":
        expected = settings.METRICS_TOKEN.encode()
        if expected and hmac.compare_digest(token.strip().encode(), expected):
            return None
        challenge = {"WWW-Authenticate": 'Bearer realm="metrics", error="invalid_token"'}
        return problem_response(request, 401, "unauthenticated", "The metrics token is not valid", challenge)
    if await is_staff(request):
        return None
    if settings.SESSION_COOKIE_NAME in request.COOKIES and (await request.auser()).is_authenticated:
        return problem_response(request, 403, "forbidden", "Metrics are for staff and the metrics token only")
    detail = "Metrics need Authorization: Bearer <METRICS_TOKEN>, or a staff session"
    return problem_response(request, 401, "unauthenticated", detail, challenge)
