"""Config endpoints: who may call them, what they say, and that no password ever leaves."""

from http import HTTPStatus

import psycopg
import pytest
from django.db import connection
from django.test import Client

from backend.db.config import database_settings
from backend.env import Env
from tests.conftest import direct

pytestmark = pytest.mark.django_db(transaction=True)
ENDPOINTS = [
    ("get", "/api/config/validate"),
    ("get", "/api/config/database/status"),
    ("post", "/api/config/database/test"),
]
PASSWORD = "p@ss:w/rd#?% é"


@pytest.fixture
def staff_client(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create(username="staff", is_staff=True))
    return client


@pytest.fixture
def user_client(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create(username="plain"))
    return client


def call(client, method, path, csrf: bool = True):
    if method == "post" and csrf:
        token = "csrf0token0for0tests0abcdefghijk"  # the cookie the admin's pages set, and its echo
        client.cookies["csrftoken"] = token
        return client.post(path, headers={"X-CSRFToken": token})
    return getattr(client, method)(path)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_gets_401_problem(method, path):
    response = call(Client(enforce_csrf_checks=True), method, path, csrf=False)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unauthenticated"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_non_staff_gets_403_problem(user_client, method, path):
    response = call(user_client, method, path)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["type"] == "/problems/forbidden"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_staff_gets_200(staff_client, method, path):
    assert call(staff_client, method, path).status_code == HTTPStatus.OK


def test_post_without_csrf_token_is_refused(staff_client):
    response = call(staff_client, "post", "/api/config/database/test", csrf=False)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["type"] == "/problems/csrf-failed"


def test_validate_reports_the_production_checks(staff_client, settings):
    settings.DEBUG = True
    body = call(staff_client, "get", "/api/config/validate").json()
    assert body["valid"] is False
    assert body["environment"] == "test"
    assert {
        "id": "backend.E004",
        "message": "DEBUG is on.",
        "hint": "Set DEBUG=false: debug pages leak settings and code.",
    } in body["errors"], body


def test_database_status_and_test_describe_the_configured_server(staff_client):
    status = call(staff_client, "get", "/api/config/database/status").json()
    assert status["connected"] is True
    assert status["name"] == connection.settings_dict["NAME"]
    assert status["server_version"].split(".")[0] == str(connection.pg_version // 10000)
    assert status["source"] in {"embedded", "components", "url"}
    tested = call(staff_client, "post", "/api/config/database/test").json()
    assert tested["ok"] is True
    assert tested["error"] is None
    assert tested["latency_ms"] > 0


def test_database_test_reports_a_failure_as_ok_false(staff_client, settings, monkeypatch):
    settings.DB_CONNECT_TIMEOUT = 1
    monkeypatch.setitem(connection.settings_dict, "EMBEDDED", False)
    monkeypatch.setitem(connection.settings_dict, "PORT", 1)  # nothing listens there
    body = call(staff_client, "post", "/api/config/database/test").json()
    assert body == {"ok": False, "latency_ms": None, "server_version": None, "error": body["error"]}
    assert "refused" in body["error"]


def test_database_test_reports_a_wrong_password(staff_client, embedded, monkeypatch):
    # The embedded server checks passwords (scram), whatever server the suite runs on.
    target = {"EMBEDDED": False, "HOST": "127.0.0.1", "PORT": embedded.port, "NAME": "app", "USER": "postgres"}
    for key, value in {**target, "PASSWORD": "wrong-password"}.items():
        monkeypatch.setitem(connection.settings_dict, key, value)
    body = call(staff_client, "post", "/api/config/database/test").json()
    assert body["ok"] is False
    assert body["error"] == "the database rejected the credentials"
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", embedded.password)
    assert call(staff_client, "post", "/api/config/database/test").json()["ok"] is True


@pytest.fixture
def special_role():
    """A role whose password has every character that breaks URLs."""
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS special_pw_role")
        cursor.execute(f"CREATE ROLE special_pw_role LOGIN PASSWORD '{PASSWORD}'")
    yield "special_pw_role"
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE special_pw_role")


def connect_with(environ: dict) -> str:
    database = database_settings(Env(environ))
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        connect_timeout=5,
    ) as conn:
        return conn.execute("SELECT current_user").fetchone()[0]


def test_a_password_with_special_characters_works_from_components_and_url(special_role):
    params = direct(connection.get_connection_params())  # the new role is the server's, not PgBouncer's
    host, port, name = params["host"], str(params["port"]), connection.settings_dict["NAME"]
    components = {"DB_HOST": host, "DB_PORT": port, "DB_NAME": name, "DB_USER": special_role, "DB_PASSWORD": PASSWORD}
    assert connect_with(components) == special_role
    encoded = "p%40ss%3Aw%2Frd%23%3F%25%20%C3%A9"
    assert connect_with({"DATABASE_URL": f"postgresql://{special_role}:{encoded}@{host}:{port}/{name}"}) == special_role


def test_no_endpoint_reveals_the_database_password(staff_client, special_role, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", PASSWORD)
    for method, path in [*ENDPOINTS, ("get", "/api/health/db"), ("get", "/api/health/ready")]:
        response = call(staff_client, method, path)
        everything = response.content.decode() + str(dict(response.headers))
        assert PASSWORD not in everything
        assert "p%40ss" not in everything
