"""Error tracking with Sentry, opt-in: config/settings.py calls ``start`` only when SENTRY_DSN is
set, so without it sentry_sdk is never imported (README, "Metrics and error tracking").

Reported: unhandled exceptions (the project logs each at ERROR with its trace, backend/problems.py;
Sentry's logging integration turns that into an event), tagged with the request id. Not reported:
client errors (4xx problems are logged below ERROR, or not at all). What is sent carries no secret:
Sentry's own filters drop cookies and credential headers (send_default_pii off) and scrub keys
named like secrets, recursively; ``redact`` then replaces, anywhere in the event, the values of
the project's secrets and of the request's cookies, Authorization and CSRF headers, whatever
variable or message they ended up in.
"""

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from django.http.cookie import parse_cookie

from backend.request_context import current_request_id
from backend.version import VERSION

FILTERED = "[Filtered]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words
SECRET_HEADERS = (b"authorization", b"cookie", b"x-csrftoken", b"proxy-authorization")
EXTRA_DENYLIST = ("sessionid", "csrfmiddlewaretoken", "database_url", "db_password", "secret_key", "metrics_token")

type ASGIApp = Callable[[dict[str, Any], Any, Any], Any]
_request_headers: ContextVar[Iterable[tuple[bytes, bytes]]] = ContextVar("request_headers", default=())


def start(dsn: str, *, environment: str, traces_sample_rate: float, secrets: Iterable[str]) -> None:
    import sentry_sdk  # noqa: PLC0415 - only when error tracking is on
    from sentry_sdk.integrations.django import DjangoIntegration  # noqa: PLC0415
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber  # noqa: PLC0415

    known = [secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH]

    def before_send(event: dict[str, Any], hint: Mapping[str, Any]) -> dict[str, Any]:
        if request_id := current_request_id():
            event.setdefault("tags", {})["request_id"] = request_id
        values = known + request_secrets(_request_headers.get())
        redacted: dict[str, Any] = redact(event, sorted(set(values), key=len, reverse=True))
        return redacted

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=VERSION,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        event_scrubber=EventScrubber(recursive=True, denylist=[*DEFAULT_DENYLIST, *EXTRA_DENYLIST]),
        before_send=before_send,  # type: ignore[arg-type]  # sentry's Event is a TypedDict
        before_send_transaction=before_send,  # type: ignore[arg-type]
        # Spans for signal receivers would wrap Django's request_finished receivers, and the ASGI
        # handler runs those inline only when they are Django's own (backend/asgi_handler.py).
        integrations=[DjangoIntegration(signals_spans=False, middleware_spans=False)],
    )


def wrap(application: ASGIApp) -> ASGIApp:
    """The ASGI app with Sentry's per-request scope (Django's handler is replaced here, so Sentry's
    patch of it does not apply), and the request's headers kept for ``redact``."""
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware  # noqa: PLC0415

    tracked = SentryAsgiMiddleware(application, unsafe_context_data=True)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = _request_headers.set(scope.get("headers", ()))
        try:
            await tracked(scope, receive, send)
        finally:
            _request_headers.reset(token)

    return app


def request_secrets(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The credentials a request carries: whole header values, each cookie's value, and a bearer
    or basic token alone."""
    found = []
    for name, raw in headers:
        if name.lower() not in SECRET_HEADERS:
            continue
        value = raw.decode("latin-1")
        found.append(value)
        if name.lower() == b"cookie":
            found += parse_cookie(value).values()
        else:
            found.append(value.partition(" ")[2])
    return [value for value in found if len(value) >= MIN_SECRET_LENGTH]


def redact(data: Any, secrets: list[str]) -> Any:
    """The same structure with every occurrence of each secret replaced; longest first, so a
    secret that contains another goes whole."""
    if isinstance(data, str):
        for secret in secrets:
            if secret in data:
                data = data.replace(secret, FILTERED)
        return data
    if isinstance(data, dict):
        return {redact(key, secrets): redact(value, secrets) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(redact(item, secrets) for item in data)
    return data
