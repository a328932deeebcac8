"""Request ids: echoed when valid, replaced when not, isolated between concurrent requests; logs."""

import asyncio
import json
import logging
import uuid

import pytest
from django.test import Client

from backend.logging import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.urls("tests.backend.problem_urls")


def test_a_valid_incoming_id_is_echoed():
    response = Client(headers={"X-Request-ID": "edge-lb:42.a_b-C"}).get("/api/echo-request-id")
    assert response["X-Request-ID"] == "edge-lb:42.a_b-C"
    assert response.json()["request_id"] == "edge-lb:42.a_b-C"


@pytest.mark.parametrize("bad", ["x" * 129, "two\nlines", "has spaces", "semi;colon", ""])
def test_an_invalid_incoming_id_is_replaced(bad):
    response = Client(headers={"X-Request-ID": bad}).get("/api/echo-request-id")
    replaced = response["X-Request-ID"]
    assert replaced != bad
    assert uuid.UUID(replaced).version == 7
    assert response.json()["request_id"] == replaced


def test_ids_differ_between_requests():
    client = Client()
    assert client.get("/api/echo-request-id")["X-Request-ID"] != client.get("/api/echo-request-id")["X-Request-ID"]


async def test_concurrent_requests_never_see_each_others_id(asgi_client):
    ids = [f"concurrent-{n}" for n in range(50)]
    responses = await asyncio.gather(
        *(
            asgi_client.get("/api/echo-request-id", params={"pause_ms": (n * 7) % 30}, headers={"X-Request-ID": rid})
            for n, rid in enumerate(ids)
        )
    )
    assert [response.json()["request_id"] for response in responses] == ids
    assert [response.headers["X-Request-ID"] for response in responses] == ids


def test_json_log_lines_parse_and_carry_the_request_id(caplog):
    with caplog.at_level(logging.INFO, logger="backend.access"):
        Client(headers={"X-Request-ID": "json-log-1"}).get("/api/echo-request-id")
    record = next(record for record in caplog.records if record.name == "backend.access")
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "json-log-1"
    assert line["method"] == "GET"
    assert line["path"] == "/api/echo-request-id"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"


def test_a_password_in_a_request_body_never_reaches_the_logs(caplog):
    secret = "hunter2-database-password"
    with caplog.at_level(logging.DEBUG):
        Client().post("/api/items", {"name": secret, "quantity": "not-a-number"}, content_type="application/json")
        Client().post(f"/api/items?password={secret}", "{broken " + secret, content_type="application/json")
    formatter = JsonFormatter()
    assert all(secret not in formatter.format(record) for record in caplog.records)
    assert secret not in caplog.text


def test_json_log_lines_carry_the_path_without_the_query_string(caplog):
    # Django's request logger passes the request along (extra={"request": ...}); its repr has the
    # full path, and query strings carry tokens.
    secret = "token-in-a-query-string"
    with caplog.at_level(logging.INFO):
        assert Client(raise_request_exception=False).get(f"/api/crash?token={secret}").status_code == 500
    lines = [JsonFormatter().format(record) for record in caplog.records]
    request_lines = [json.loads(line) for line in lines if '"logger": "django.request"' in line]
    assert request_lines, lines
    assert request_lines[0]["request"] == "GET /api/crash"
    assert all(secret not in line for line in lines)
