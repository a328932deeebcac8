"""Production configuration rules as Django system checks (backend.E001..., backend.W001...).

They are registered with Django (so `manage.py check` and runserver show them) but only report in
production; `configuration_issues()` runs the same rules anywhere, for /api/config/validate.
`guard_production()` stops an ASGI/WSGI process (gunicorn included) while an error stands.
"""

import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string

from backend.db.budget import budget_issues

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
MIN_SECRET_KEY_LENGTH = 50
# The rules read settings, or any object with the same attributes (the tests' SimpleNamespace).
type Conf = Any


def configuration_issues(conf: Conf = settings) -> list[checks.CheckMessage]:  # noqa: PLR0912 - a branch a rule
    issues: list[checks.CheckMessage] = []
    error, warning = _collector(issues, checks.Error), _collector(issues, checks.Warning)

    try:
        key = conf.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        key = ""
    if not key:
        error("E001", "SECRET_KEY is not set.", "Set SECRET_KEY (or SECRET_KEY_FILE) to 50+ random characters.")
    elif key.startswith("django-insecure"):  # Django's startproject keys and ours for development
        error(
            "E003",
            "SECRET_KEY is a known development value.",
            "Generate one: python -c 'import secrets; print(secrets.token_urlsafe(64))'.",
        )
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        error("E002", f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters.", "Use 50+ random characters.")
    if conf.DEBUG:
        error("E004", "DEBUG is on.", "Set DEBUG=false: debug pages leak settings and code.")
    if not conf.ALLOWED_HOSTS:
        error("E005", "ALLOWED_HOSTS is empty.", "Set ALLOWED_HOSTS to the public host names, comma-separated.")
    elif "*" in conf.ALLOWED_HOSTS:
        error("E006", "ALLOWED_HOSTS contains '*'.", "List the real host names instead of '*'.")
    if getattr(conf, "CORS_ALLOW_ALL_ORIGINS", False):
        error("E007", "CORS_ORIGINS allows every origin ('*').", "List the frontend origins in CORS_ORIGINS.")
    for origin in conf.CORS_ALLOWED_ORIGINS:
        parts = urlsplit(origin)
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            error("E008", f"CORS origin {origin} is plain http.", "Use https:// origins for non-local hosts.")
    database = conf.DATABASES["default"]
    if database.get("SOURCE") == "embedded":
        error(
            "E009",
            "No database is configured.",
            "Set DB_HOST (and DB_*) or DATABASE_URL.",
        )
    elif not database.get("PASSWORD"):
        error("E010", "The database password is empty.", "Set DB_PASSWORD (or DB_PASSWORD_FILE).")
    if database.get("OPTIONS", {}).get("sslmode") == "disable":
        warning("W001", "DB_SSLMODE=disable: database traffic is not encrypted.", "Use require or verify-full.")
    if not conf.SECURE_HSTS_SECONDS:
        warning("W002", "HSTS is off (SECURE_HSTS_SECONDS=0).", "Keep the production default of one year.")
    if not (conf.SESSION_COOKIE_SECURE and conf.CSRF_COOKIE_SECURE):
        warning(
            "W003",
            "Session or CSRF cookies are not marked secure.",
            "Keep the production default (on).",
        )
    if not conf.SECURE_PROXY_SSL_HEADER:
        warning("W004", "SECURE_PROXY_SSL_HEADER is unset.", "Behind a TLS proxy, trust its X-Forwarded-Proto.")
    if conf.METRICS_ENABLED and not conf.METRICS_TOKEN:
        warning(
            "W007",
            "METRICS_TOKEN is not set: only staff sessions can read /metrics, Prometheus cannot.",
            "Set METRICS_TOKEN (or METRICS_TOKEN_FILE) and scrape with Authorization: Bearer <token>.",
        )
    issues += frontend_session_issues(conf)
    return issues


def frontend_session_issues(conf: Conf = settings) -> list[checks.CheckMessage]:
    """Cookie and CORS combinations with which a frontend on another origin cannot log in."""
    issues: list[checks.CheckMessage] = []
    error, warning = _collector(issues, checks.Error), _collector(issues, checks.Warning)
    for cookie in ("SESSION", "CSRF"):
        if getattr(conf, f"{cookie}_COOKIE_SAMESITE") == "None" and not getattr(conf, f"{cookie}_COOKIE_SECURE"):
            error(
                "E014",
                f"{cookie}_COOKIE_SAMESITE=None without a secure cookie: browsers drop such cookies.",
                f"Keep {cookie}_COOKIE_SAMESITE=lax (a frontend on a subdomain is the same site), or use HTTPS.",
            )
        domain = getattr(conf, f"{cookie}_COOKIE_DOMAIN")
        hosts = [host for host in conf.ALLOWED_HOSTS if host != "*"]
        if domain and hosts and not any(within(host.lstrip("."), domain) for host in hosts):
            error(
                "E015",
                f"{cookie}_COOKIE_DOMAIN={domain} does not cover any of ALLOWED_HOSTS: browsers refuse the cookie.",
                f"Set {cookie}_COOKIE_DOMAIN to the domain the API's host is in (api.example.com: .example.com).",
            )
    trusted = set(conf.CSRF_TRUSTED_ORIGINS)
    for origin in conf.CORS_ALLOWED_ORIGINS:
        if origin not in trusted:
            error(
                "E016",
                f"CORS origin {origin} is not in CSRF_TRUSTED_ORIGINS: its logins and writes fail the CSRF check.",
                "List every frontend origin in both CORS_ORIGINS and CSRF_TRUSTED_ORIGINS.",
            )
        host = urlsplit(origin).hostname or ""
        if host in LOCAL_HOSTS:
            continue  # a developer's frontend against this API; E008 allows it
        api_hosts = [h.lstrip(".") for h in conf.ALLOWED_HOSTS if h != "*" and h not in LOCAL_HOSTS]
        if conf.SESSION_COOKIE_SAMESITE != "None" and api_hosts and not any(same_site(host, h) for h in api_hosts):
            warning(
                "W005",
                f"CORS origin {origin} is on another site than the API ({', '.join(api_hosts)}): "
                f"with SameSite={conf.SESSION_COOKIE_SAMESITE} its requests carry no session cookie.",
                "Serve the frontend and the API from one domain (app.example.com, api.example.com).",
            )
    return issues


def within(host: str, domain: str) -> bool:
    """Whether a cookie for ``domain`` is valid on ``host`` (RFC 6265's domain match)."""
    domain = domain.lstrip(".")
    return host == domain or host.endswith("." + domain)


def same_site(host: str, other: str) -> bool:
    """Whether two hosts may be the same site. Last two labels only (no public suffix list): it
    can miss a difference (a.co.uk, b.co.uk), never report one that is not there."""
    return host.split(".")[-2:] == other.split(".")[-2:]


def _collector(
    issues: list[checks.CheckMessage], level: type[checks.Error | checks.Warning]
) -> Callable[[str, str, str], None]:
    def add(code: str, message: str, hint: str) -> None:
        issues.append(level(message, hint=hint, id=f"backend.{code}"))

    return add


@checks.register(checks.Tags.security)
def production_configuration(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    return configuration_issues() if settings.APP_ENV == "production" else []


def database_role_issues(alias: str = "default") -> list[checks.CheckMessage]:
    """A role that is a superuser or has BYPASSRLS is bound by no row-level security policy:
    an error when the database has policies, a warning before it has any."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        name, superuser, bypass = cursor.fetchone() or ("", False, False)
        if not (superuser or bypass):
            return []
        cursor.execute("SELECT EXISTS (SELECT FROM pg_policies)")
        (policies,) = cursor.fetchone() or (False,)
    what = "is a superuser" if superuser else "has BYPASSRLS"
    hint = "Serve the app as a role without SUPERUSER and BYPASSRLS (migrations may run as another role)."
    if policies:
        message = f"The database role {name} {what}: the row-level security policies do not apply to it."
        return [checks.Error(message, hint=hint, id="backend.E017")]
    message = f"The database role {name} {what}: row-level security policies would not apply to it."
    return [checks.Warning(message, hint=hint, id="backend.W006")]


@checks.register(checks.Tags.database)
def database_role(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    # Database checks run when asked (`check --database default`, migrate), never at import.
    if settings.APP_ENV != "production" or "default" not in (databases or ()):
        return []
    try:
        return database_role_issues()
    except DatabaseError:
        return []  # unreachable: the readiness check and the command itself say so


@checks.register(checks.Tags.database)
def connection_budget(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    if "default" not in (databases or ()):
        return []
    return budget_issues()


# Django's deploy checks look for these by dotted path (security.W001-W003, silenced in settings);
# the project runs async-native subclasses of them, so this checks for subclasses instead.
REQUIRED_MIDDLEWARE = {
    "backend.E011": "django.middleware.security.SecurityMiddleware",
    "backend.E012": "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backend.E013": "django.middleware.csrf.CsrfViewMiddleware",
}


@checks.register(checks.Tags.security)
def security_middleware(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    missing: list[checks.CheckMessage] = []
    for code, path in REQUIRED_MIDDLEWARE.items():
        required = import_string(path)
        if not any(isinstance(cls, type) and issubclass(cls, required) for cls in installed):
            hint = f"Keep {path} (or backend.async_middleware's subclass of it) in MIDDLEWARE."
            missing.append(checks.Error(f"{path} is not in MIDDLEWARE.", hint=hint, id=code))
    return missing


def guard_production() -> None:
    """Exit non-zero, listing each error with its hint, when production configuration is unsafe."""
    if settings.APP_ENV != "production":
        return
    errors = [issue for issue in configuration_issues() if issue.is_serious()]
    if errors:
        print("error: refusing to start in production:", file=sys.stderr)  # noqa: T201
        for issue in errors:
            print(f"  {issue.id}: {issue.msg} HINT: {issue.hint}", file=sys.stderr)  # noqa: T201
        sys.exit(1)
