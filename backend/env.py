"""The one place that reads the environment: typed values, and errors that name the variable.

django-environ reads the ``.env`` file and parses ``DATABASE_URL``; the casts here are strict
(``DEBUG=maybe`` is an error, not False) and never echo the value of a secret.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
APP_ENVS = ("development", "test", "production")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class EnvError(ImproperlyConfigured):
    """A variable holds a value that cannot be used; the message names it."""


class Env:
    """Typed reads from a mapping of environment variables (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def is_set(self, name: str) -> bool:
        return self.environ.get(name, "").strip() != ""

    def text(self, name: str, default: str = "") -> str:
        value = self.environ.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise EnvError(f"{name}={value!r} is not valid: expected one of {', '.join(choices)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name, "").lower()
        if not self.is_set(name):
            return default
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise EnvError(f"{name}={value!r} is not valid: expected true or false (1/0, yes/no, on/off)")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        if not self.is_set(name):
            return default
        value = self.text(name)
        try:
            number = int(value)
        except ValueError:
            raise EnvError(f"{name}={value!r} is not valid: expected a whole number") from None
        if number < minimum or (maximum is not None and number > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise EnvError(f"{name}={number} is out of range: expected at least {minimum}{upper}")
        return number

    def seconds(self, name: str, default: float) -> float:
        if not self.is_set(name):
            return default
        # An hour bounds every timeout here.
        bounds = "more than 0 and at most 3600 seconds"
        return self._number(name, "a number of seconds", bounds, lambda number: 0 < number <= 3600)

    def fraction(self, name: str, default: float) -> float:
        """A number from 0 to 1 (a sample rate)."""
        if not self.is_set(name):
            return default
        return self._number(name, "a number from 0 to 1", "a number from 0 to 1", lambda number: 0 <= number <= 1)

    def _number(self, name: str, expected: str, bounds: str, within: Callable[[float], bool]) -> float:
        value = self.text(name)
        try:
            number = float(value)
        except ValueError:
            raise EnvError(f"{name}={value!r} is not valid: expected {expected}") from None
        if not within(number):
            raise EnvError(f"{name}={number} is out of range: expected {bounds}")
        return number

    def secret(self, name: str, default: str = "") -> str:
        """A secret from NAME, or from the file that NAME_FILE points to (Docker/Kubernetes)."""
        file_name = f"{name}_FILE"
        if self.is_set(file_name):
            if self.is_set(name):
                raise EnvError(f"{name} and {file_name} are both set: set only one")
            path = Path(self.text(file_name))
            try:
                return path.read_text().rstrip("\r\n")
            except OSError as error:
                raise EnvError(f"{file_name}: cannot read {path} ({error.strerror})") from None
        value = self.environ.get(name)
        return value or default  # empty means unset, as everywhere (`cp .env.example .env`)

    def items(self, name: str, default: tuple[str, ...] = ()) -> list[str]:
        """A comma-separated list; a JSON array is still read, with a deprecation warning."""
        if not self.is_set(name):
            return list(default)
        value = self.text(name)
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                raise EnvError(f"{name} looks like a JSON array but is not valid JSON: use a-b.com,c.com") from None
            if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
                raise EnvError(f"{name} must be a list of strings: use a-b.com,c.com")
            warnings.warn(
                f"{name}: JSON arrays are deprecated, use comma-separated values", DeprecationWarning, stacklevel=2
            )
            items = parsed
        else:
            items = value.split(",")
        return [item.strip() for item in items if item.strip()]

    def origins(self, name: str, default: tuple[str, ...] = ()) -> list[str]:
        """A list of origins: scheme://host[:port], no path, query or fragment."""
        origins = self.items(name, default)
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise EnvError(f"{name}: {origin!r} is not an origin: expected scheme://host[:port]")
            if parts.path not in {"", "/"} or parts.query or parts.fragment:
                raise EnvError(f"{name}: {origin!r} has a path; an origin is scheme://host[:port] only")
        return [origin.rstrip("/") for origin in origins]

    def cookie_domain(self, name: str) -> str | None:
        """A cookie's Domain attribute (``.example.com``): a host name, no scheme, port or path."""
        value = self.text(name).lower()
        if not value:
            return None
        if not re.fullmatch(r"\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", value):
            raise EnvError(f"{name}={value!r} is not a cookie domain: expected a host name such as .example.com")
        return value


def read_dotenv(path: Path = BASE_DIR / ".env") -> None:
    """Load ``.env`` into the environment; real environment variables win."""
    if path.is_file():
        environ.Env.read_env(path, overwrite=False)


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (an IPv6 address in brackets or not)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_app_env_unless_local(env: Env, allowed_hosts: list[str], database: Mapping[str, object]) -> None:
    """Development's defaults (DEBUG, the committed key, no HTTPS) apply without APP_ENV only where
    nothing outside this machine can reach them: the app bound to and named by loopback addresses
    only, its database embedded, on a loopback address or a Unix socket. Anything else must say
    what it is: a deployment that forgets APP_ENV refuses to start instead of running as development.
    """
    if env.is_set("APP_ENV"):
        return
    reasons = [f"ALLOWED_HOSTS has {host!r}" for host in allowed_hosts if not is_loopback(host)]
    if not is_loopback(bind := env.text("HOST", "127.0.0.1")):
        reasons.append(f"HOST is {bind!r}")
    database_host = str(database.get("HOST") or "")
    if not database.get("EMBEDDED") and not (database_host.startswith("/") or is_loopback(database_host)):
        reasons.append(f"the database is on {database_host!r}")
    if reasons:
        raise EnvError(
            f"APP_ENV is not set and {reasons[0]}, which is reachable from other machines: "
            "set APP_ENV=production to deploy (or APP_ENV=development to develop so)"
        )


def app_env(env: Env) -> str:
    # pytest sets PYTEST_VERSION, so the suite runs as "test" without anyone remembering to say so.
    default = "test" if "PYTEST_VERSION" in env.environ else "development"
    return env.choice("APP_ENV", APP_ENVS, default)
