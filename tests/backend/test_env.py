"""Parsing the environment: each variable, each precedence rule, each malformed value."""

import os
import subprocess
import sys

import pytest

from backend.db.config import database_settings
from backend.env import Env, EnvError, app_env, is_loopback
from tests.conftest import PROJECT_DIR

SECRET = "s3cr3t-value-never-echoed"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the case under test


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("Yes", True), ("on", True), ("false", False), ("0", False), ("off", False)],
)
def test_booleans(value, expected):
    assert Env({"DEBUG": value}).boolean("DEBUG", default=not expected) is expected


@pytest.mark.parametrize(
    ("environ", "call", "message"),
    [
        ({"DEBUG": "maybe"}, lambda e: e.boolean("DEBUG", False), "DEBUG='maybe' is not valid: expected true or false"),
        ({"DB_PORT": "five"}, lambda e: e.integer("DB_PORT", 5432), "DB_PORT='five' is not valid: expected a whole"),
        ({"DB_PORT": "70000"}, lambda e: e.integer("DB_PORT", 5432, 1, 65535), "DB_PORT=70000 is out of range"),
        ({"DB_POOL_TIMEOUT": "-1"}, lambda e: e.seconds("DB_POOL_TIMEOUT", 5), "DB_POOL_TIMEOUT=-1.0 is out of range"),
        ({"DB_HEALTH_TIMEOUT": "soon"}, lambda e: e.seconds("DB_HEALTH_TIMEOUT", 2), "DB_HEALTH_TIMEOUT='soon'"),
        ({"APP_ENV": "staging"}, app_env, "APP_ENV='staging' is not valid: expected one of development, test"),
        ({"CORS_ORIGINS": "example.com"}, lambda e: e.origins("CORS_ORIGINS"), "CORS_ORIGINS: 'example.com' is not"),
        (
            {"CORS_ORIGINS": "https://a.com/app"},
            lambda e: e.origins("CORS_ORIGINS"),
            "CORS_ORIGINS: 'https://a.com/app' has a path",
        ),
        (
            {"CSRF_TRUSTED_ORIGINS": "ftp://a.com"},
            lambda e: e.origins("CSRF_TRUSTED_ORIGINS"),
            "CSRF_TRUSTED_ORIGINS: 'ftp://a.com'",
        ),
        (
            {"ALLOWED_HOSTS": '["a.com",'},
            lambda e: e.items("ALLOWED_HOSTS"),
            "ALLOWED_HOSTS looks like a JSON array but",
        ),
        ({"ALLOWED_HOSTS": "[1, 2]"}, lambda e: e.items("ALLOWED_HOSTS"), "ALLOWED_HOSTS must be a list of strings"),
        ({"RATE": "5%"}, lambda e: e.fraction("RATE", 0), "RATE='5%' is not valid: expected a number from 0 to 1"),
        ({"RATE": "1.5"}, lambda e: e.fraction("RATE", 0), "RATE=1.5 is out of range: expected a number from 0 to 1"),
    ],
)
def test_malformed_values_name_the_variable(environ, call, message):
    with pytest.raises(EnvError) as error:
        call(Env(environ))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.com,b.com", ["a.com", "b.com"]),
        (" a.com , ,b.com, ", ["a.com", "b.com"]),
        ("", []),
    ],
)
def test_lists_are_comma_separated_trimmed_and_without_empty_items(value, expected):
    assert Env({"ALLOWED_HOSTS": value}).items("ALLOWED_HOSTS") == expected


def test_json_arrays_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="ALLOWED_HOSTS: JSON arrays are deprecated"):
        assert Env({"ALLOWED_HOSTS": '["a.com", "b.com"]'}).items("ALLOWED_HOSTS") == ["a.com", "b.com"]


def test_origins_lose_a_trailing_slash():
    assert Env({"CORS_ORIGINS": "https://a.com/, http://localhost:3000"}).origins("CORS_ORIGINS") == [
        "https://a.com",
        "http://localhost:3000",
    ]


@pytest.mark.parametrize(("environ", "expected"), [({}, "test"), ({"APP_ENV": "Production"}, "production")])
def test_app_env(environ, expected):
    assert app_env(Env({"PYTEST_VERSION": "9", **environ})) == expected


def test_secret_from_a_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(SECRET + "\n")
    assert Env({"SECRET_KEY_FILE": str(path)}).secret("SECRET_KEY") == SECRET


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SECRET_KEY_FILE": "/nonexistent/key"}, "SECRET_KEY_FILE: cannot read /nonexistent/key"),
        ({"SECRET_KEY_FILE": "/etc/hostname", "SECRET_KEY": SECRET}, "SECRET_KEY and SECRET_KEY_FILE are both set"),
    ],
)
def test_secret_file_errors_never_echo_the_secret(environ, message):
    with pytest.raises(EnvError) as error:
        Env(environ).secret("SECRET_KEY")
    assert message in str(error.value)
    assert SECRET not in str(error.value)


PASSWORD = "p@ss:w/rd#?% é"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"SOURCE": "embedded", "HOST": "127.0.0.1", "NAME": "app", "USER": "postgres", "EMBEDDED": True}),
        (
            {"DATABASE_URL": "postgresql://u:p%40ss%3Aw%2Frd%23%3F%25%20%C3%A9@db.example:6543/shop?sslmode=require"},
            {"SOURCE": "url", "HOST": "db.example", "PORT": 6543, "NAME": "shop", "USER": "u", "PASSWORD": PASSWORD},
        ),
        (
            {"DB_HOST": "h", "DB_USER": "u", "DB_PASSWORD": PASSWORD, "DB_NAME": "n"},
            {"SOURCE": "components", "HOST": "h", "PORT": 5432, "NAME": "n", "USER": "u", "PASSWORD": PASSWORD},
        ),
        (
            {"DATABASE_URL": "postgres://u:old@db.example:6543/shop", "DB_PASSWORD": PASSWORD, "DB_PORT": "7000"},
            {"SOURCE": "url", "HOST": "db.example", "PORT": 7000, "NAME": "shop", "USER": "u", "PASSWORD": PASSWORD},
        ),
        (
            {"DATABASE_URL": "postgres://u:p@db.example/shop", "DB_HOST": "other", "DB_NAME": "n2"},
            {"SOURCE": "components", "HOST": "other", "PORT": 5432, "NAME": "n2", "USER": "u", "PASSWORD": "p"},
        ),
    ],
)
def test_database_composition_and_precedence(environ, expected):
    database = database_settings(Env(environ))
    assert {key: database[key] for key in expected} == expected
    assert database["CONN_MAX_AGE"] == 0


def test_database_options_and_pool():
    database = database_settings(
        Env(
            {
                "DB_HOST": "h",
                "DB_SSLMODE": "verify-full",
                "DB_CONNECT_TIMEOUT": "3",
                "DB_POOL_MIN_SIZE": "2",
                "DB_POOL_MAX_SIZE": "20",
                "DB_POOL_TIMEOUT": "1.5",
            }
        )
    )
    options = database["OPTIONS"]
    assert options["sslmode"] == "verify-full"
    assert options["connect_timeout"] == 3
    assert {key: options["pool"][key] for key in ("min_size", "max_size", "timeout")} == {
        "min_size": 2,
        "max_size": 20,
        "timeout": 1.5,
    }


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATABASE_URL": f"mysql://u:{SECRET}@h/db"}, "DATABASE_URL must use the postgresql://"),
        ({"DATABASE_URL": f"postgres://u:{SECRET}@h:notaport/db"}, "DATABASE_URL is not a valid URL"),
        ({"DB_HOST": "h", "DB_SSLMODE": "sometimes"}, "DB_SSLMODE='sometimes' is not valid"),
        ({"DB_HOST": "h", "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"}, "DB_POOL_MAX_SIZE=2 is smaller"),
    ],
)
def test_database_errors_name_the_variable_and_hide_the_password(environ, message):
    with pytest.raises(EnvError) as error:
        database_settings(Env(environ))
    assert message in str(error.value)
    assert SECRET not in str(error.value)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DB_PASSWORD"])
def test_an_empty_secret_is_unset(name):
    # `cp .env.example .env` leaves SECRET_KEY= and DB_PASSWORD= empty: the defaults must stand.
    assert Env({name: "", f"{name}_FILE": ""}).secret(name, "the-default") == "the-default"


@pytest.mark.parametrize(
    ("value", "expected"), [("", None), (".example.com", ".example.com"), ("Example.COM", "example.com")]
)
def test_cookie_domains(value, expected):
    assert Env({"SESSION_COOKIE_DOMAIN": value}).cookie_domain("SESSION_COOKIE_DOMAIN") == expected


@pytest.mark.parametrize(
    "value", ["https://example.com", "example.com:443", "localhost", ".example.com/app", "*.a.com"]
)
def test_a_cookie_domain_must_be_a_host_name(value):
    with pytest.raises(EnvError, match=r"SESSION_COOKIE_DOMAIN=.* is not a cookie domain: expected a host name"):
        Env({"SESSION_COOKIE_DOMAIN": value}).cookie_domain("SESSION_COOKIE_DOMAIN")


@pytest.mark.parametrize(
    ("host", "expected"),
    [("localhost", True), ("127.0.0.1", True), ("127.1.2.3", True), ("[::1]", True), ("::1", True),
     ("app.localhost", True), (ALL_INTERFACES, False), ("10.0.0.5", False), ("api.example.com", False), ("*", False),
     (".localhost.example.com", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host, expected):
    assert is_loopback(host) is expected


def check_without_app_env(**variables: str) -> subprocess.CompletedProcess:
    """`manage.py check` as a deployment that forgot APP_ENV runs it (no pytest in its environment)."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTEST_VERSION", "APP_ENV"}}
    for name in ("ALLOWED_HOSTS", "HOST", "DB_HOST", "DATABASE_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"ALLOWED_HOSTS": "localhost,api.example.com"}, "ALLOWED_HOSTS has 'api.example.com'"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS has '*'"),
        ({"HOST": ALL_INTERFACES}, f"HOST is '{ALL_INTERFACES}'"),
        ({"DB_HOST": "db.example.com"}, "the database is on 'db.example.com'"),
        ({"DATABASE_URL": "postgresql://app:pw@10.0.0.5/app"}, "the database is on '10.0.0.5'"),
    ],
)
def test_without_app_env_anything_reachable_from_outside_refuses_to_start(variables, reason):
    result = check_without_app_env(**variables)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: APP_ENV is not set and {reason}, which is reachable from other machines: "
        "set APP_ENV=production to deploy (or APP_ENV=development to develop so)"
    ]
    assert "pw" not in result.stderr


@pytest.mark.parametrize(
    "variables",
    [
        {},  # a fresh checkout: embedded database, loopback only
        {"ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]", "HOST": "127.0.0.1", "DB_HOST": "127.0.0.1"},
        {"DB_HOST": "/var/run/postgresql"},  # a Unix socket
        {"APP_ENV": "development", "ALLOWED_HOSTS": "dev.example.com", "HOST": ALL_INTERFACES},  # said so
    ],
)
def test_without_app_env_a_local_setup_runs_as_development(variables):
    result = check_without_app_env(**variables)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
