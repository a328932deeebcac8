"""Compose Django's DATABASES["default"] from DB_* components, DATABASE_URL, or the embedded server.

Each DB_* variable overrides the matching part of DATABASE_URL, so a password with any character
can come from a secret store as it is, with no URL-encoding. Neither set means the embedded
PostgreSQL (development and test; production refuses it through a system check).
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

import environ

from backend.env import Env, EnvError

ENGINE = "backend.db.postgresql"
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
COMPONENTS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_PASSWORD_FILE")


class Parts(TypedDict, total=False):
    HOST: str
    PORT: int | str
    NAME: str
    USER: str
    PASSWORD: str
    OPTIONS: dict[str, Any]


def database_source(env: Env) -> str:
    if env.is_set("DB_HOST"):
        return "components"
    if env.is_set("DATABASE_URL"):
        return "url"
    return "embedded"


def database_settings(env: Env) -> dict[str, Any]:
    source = database_source(env)
    parts = Parts(HOST="", PORT="", NAME="app", USER="postgres", PASSWORD="", OPTIONS={})
    if env.is_set("DATABASE_URL"):
        parts.update(_parse_url(env.text("DATABASE_URL")))
    if source == "embedded":
        from backend.db.embedded import DATABASE, SUPERUSER  # noqa: PLC0415

        # The port is the embedded server's own, filled in when it is started (on first connection).
        parts.update(Parts(HOST="127.0.0.1", PORT="", NAME=DATABASE, USER=SUPERUSER))
    else:
        parts["HOST"] = env.text("DB_HOST", parts["HOST"])
        parts["PORT"] = env.integer("DB_PORT", int(parts["PORT"] or 5432), minimum=1, maximum=65535)
        parts["NAME"] = env.text("DB_NAME", parts["NAME"])
        parts["USER"] = env.text("DB_USER", parts["USER"])
        parts["PASSWORD"] = env.secret("DB_PASSWORD", parts["PASSWORD"])

    options = parts["OPTIONS"]
    sslmode = env.choice("DB_SSLMODE", SSLMODES, options.get("sslmode", "prefer"))
    min_size = env.integer("DB_POOL_MIN_SIZE", 1, minimum=0, maximum=1000)
    max_size = env.integer("DB_POOL_MAX_SIZE", 10, minimum=1, maximum=1000)
    if max_size < min_size:
        raise EnvError(f"DB_POOL_MAX_SIZE={max_size} is smaller than DB_POOL_MIN_SIZE={min_size}")
    # PgBouncer in transaction mode gives each transaction any server connection: nothing may live
    # on one between transactions (README, "PgBouncer and sizing").
    pooler = env.choice("DB_POOLER", ("none", "pgbouncer"), "none")
    return {
        "ENGINE": ENGINE,
        "POOLER": pooler,
        # A named (server-side) cursor lives on its server connection past the transaction; iterator()
        # then fetches in chunks from a client-side cursor instead.
        "DISABLE_SERVER_SIDE_CURSORS": pooler == "pgbouncer",
        **parts,
        "EMBEDDED": source == "embedded",
        "SOURCE": source,
        # The served pool's size, also when management commands drop the pool (the connection budget).
        "POOL_MAX_SIZE": max_size,
        # The pool replaces persistent connections: https://docs.djangoproject.com/en/6.1/ref/databases/#connection-pool
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            **{key: value for key, value in options.items() if key not in {"sslmode", "pool"}},
            "sslmode": sslmode,
            "connect_timeout": env.integer("DB_CONNECT_TIMEOUT", 5, minimum=1, maximum=600),
            "application_name": "backend",
            # psycopg prepares a statement run 5 times; Django already turns that off (the prepared
            # statement would stay on one server connection): kept off whatever the pooler.
            "prepare_threshold": None,
            "pool": {
                "min_size": min_size,
                "max_size": max_size,
                "timeout": env.seconds("DB_POOL_TIMEOUT", 5.0),
            },
        },
        "TEST": {"NAME": f"test_{parts['NAME']}"},
    }


def _parse_url(url: str) -> Parts:
    try:
        config = environ.Env.db_url_config(url)
    except Exception:  # noqa: BLE001 - the library raises assorted errors; none may echo the URL
        raise EnvError(
            "DATABASE_URL is not a valid URL: expected postgresql://user:password@host:port/name "
            "(percent-encode special characters in the password, or use DB_PASSWORD)"
        ) from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise EnvError("DATABASE_URL must use the postgresql:// (or postgres://) scheme")
    # django-environ is untyped: its values are the types Django's DATABASES takes.
    return cast(Parts, {key: config[key] for key in Parts.__annotations__ if config.get(key)})
