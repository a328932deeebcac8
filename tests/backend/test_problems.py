"""Every /api/ error is an RFC 9457 problem, whatever produced it."""

import json
import logging
from http import HTTPStatus

import pytest
from django.test import Client

pytestmark = pytest.mark.urls("tests.backend.problem_urls")
REQUEST_ID = "test-request-0001"


def assert_problem(response, status: HTTPStatus, kind: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance", "request_id"}
    assert body["type"] == f"/problems/{kind}"
    assert body["status"] == status
    assert body["instance"] == response.wsgi_request.path
    assert body["request_id"] == response["X-Request-ID"] == REQUEST_ID
    assert body["title"]
    assert body["detail"]
    return body


@pytest.fixture
def client():
    return Client(headers={"X-Request-ID": REQUEST_ID})


def post_json(client, path, body, **kwargs):
    return client.post(path, body, content_type="application/json", **kwargs)


def test_validation_error_points_into_the_body_and_names_parameters(client):
    response = post_json(client, "/api/items?dry_run=maybe", {"name": "x", "quantity": "many"})
    body = assert_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY, "validation-error")
    assert body["errors"] == [
        {"detail": "Input should be a valid integer, unable to parse string as an integer", "pointer": "/quantity"},
        {"detail": "Input should be a valid boolean, unable to interpret input", "parameter": "dry_run"},
    ]


def test_http_error_keeps_its_status_and_message(client):
    body = assert_problem(client.get("/api/http-error"), HTTPStatus.CONFLICT, "conflict")
    assert body["detail"] == "That name is taken"


@pytest.mark.parametrize("path", ["/api/http404", "/api/missing-object", "/api/no/such/path"])
def test_not_found(client, path):
    body = assert_problem(client.get(path), HTTPStatus.NOT_FOUND, "not-found")
    assert "secret-id" not in body["detail"]


def test_wrong_method_keeps_allow(client):
    response = client.delete("/api/http-error")
    assert_problem(response, HTTPStatus.METHOD_NOT_ALLOWED, "method-not-allowed")
    assert response["Allow"] == "GET"


def test_permission_denied(client):
    assert_problem(client.get("/api/denied"), HTTPStatus.FORBIDDEN, "forbidden")


def test_authentication_required(client):
    assert_problem(client.post("/api/staff-only"), HTTPStatus.UNAUTHORIZED, "unauthenticated")


@pytest.mark.django_db
def test_csrf_failure(client, admin_user):
    csrf_client = Client(enforce_csrf_checks=True, headers={"X-Request-ID": REQUEST_ID})
    csrf_client.force_login(admin_user)
    assert_problem(csrf_client.post("/api/staff-only"), HTTPStatus.FORBIDDEN, "csrf-failed")


def test_malformed_json(client):
    response = client.post("/api/items", "{not json", content_type="application/json")
    assert_problem(response, HTTPStatus.BAD_REQUEST, "malformed-body")


def test_body_over_the_limit(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post_json(client, "/api/items", {"name": "x" * 500, "quantity": 1})
    assert_problem(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload-too-large")


def test_database_outage_is_a_503(client):
    response = client.get("/api/database-down")
    body = assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "database-unavailable")
    assert "10.0.0.5" not in body["detail"]


def test_unhandled_exception_logs_the_trace_but_tells_nothing(client, caplog):
    with caplog.at_level(logging.ERROR, logger="backend.errors"):
        response = client.get("/api/crash")
    body = assert_problem(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error")
    assert "SELECT" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    record = next(record for record in caplog.records if record.name == "backend.errors")
    assert record.request_id == REQUEST_ID == body["request_id"]
    assert "SELECT password FROM secrets" in caplog.text
    assert "RuntimeError" in logging.Formatter().formatException(record.exc_info)


def test_successful_responses_are_untouched(client):
    response = post_json(client, "/api/items", {"name": "x", "quantity": 2})
    assert response.status_code == HTTPStatus.OK
    assert json.loads(response.content) == {"name": "x", "quantity": 2}


FRONTEND = "http://localhost:3000"


@pytest.mark.parametrize(
    "case",
    [
        ("POST", "/api/items?dry_run=maybe", '{"name": "x", "quantity": "many"}', 422, "validation-error"),
        ("GET", "/api/http-error", None, 409, "conflict"),
        ("GET", "/api/missing-object", None, 404, "not-found"),
        ("DELETE", "/api/http-error", None, 405, "method-not-allowed"),
        ("GET", "/api/denied", None, 403, "forbidden"),
        ("POST", "/api/staff-only", None, 401, "unauthenticated"),
        ("POST", "/api/items", "{not json", 400, "malformed-body"),
        ("POST", "/api/items", '{"name": "' + "x" * 2000 + '", "quantity": 1}', 413, "payload-too-large"),
        ("GET", "/api/database-down", None, 503, "database-unavailable"),
        ("GET", "/api/crash", None, 500, "internal-error"),
    ],
)
async def test_every_kind_of_problem_through_the_asgi_handler_keeps_its_headers(asgi_client, settings, case):
    """The project's own ASGI handler (what gunicorn serves), not Django's test client: each kind
    of problem with the headers the stack sets, so a browser frontend on another origin reads it."""
    method, path, body, status, kind = case
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    headers = {"X-Request-ID": REQUEST_ID, "Origin": FRONTEND, "Content-Type": "application/json"}
    response = await asgi_client.request(method, path, content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"/problems/{kind}"
    assert problem["status"] == status
    assert problem["instance"] == path.partition("?")[0]
    assert problem["request_id"] == response.headers["X-Request-ID"] == REQUEST_ID
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        assert "GET" in response.headers["Allow"]
