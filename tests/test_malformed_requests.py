"""Requests malformed in every way a client controls get a 4xx problem that says what was wrong,
never a 500: on every operation of the schema, from the live server, anonymous and as staff."""

import json
from http import HTTPStatus

import httpx
import pytest

from tests.conftest import LIVE_SERVER_ENV, PROJECT_DIR

LIMIT = int(LIVE_SERVER_ENV["REQUEST_BODY_MAX_BYTES"])
SCHEMA = json.loads((PROJECT_DIR / "backend" / "openapi.json").read_text())
OPERATIONS = sorted(
    (
        (method.upper(), path.replace("{", "").replace("}", ""))  # no path parameters today; any value is a 404 then
        for path, item in SCHEMA["paths"].items()
        for method in item
    ),
    key=lambda operation: operation[1] == "/api/auth/logout",  # last: it ends the staff caller's session
)
MULTIPART = "multipart/form-data; boundary=B"
# name: (headers, body); a body made by a function is an iterator, sent chunked (no Content-Length).
CASES = {
    "multipart without boundary": ({"Content-Type": "multipart/form-data"}, b"--x\r\n\r\nvalue"),
    "multipart with an empty boundary": ({"Content-Type": "multipart/form-data; boundary="}, b"--\r\n"),
    "multipart truncated": ({"Content-Type": MULTIPART}, b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nval'),
    "multipart chunked, no boundary": ({"Content-Type": "multipart/form-data"}, lambda: iter([b"--x", b"\r\n"])),
    "form with an unknown charset": ({"Content-Type": "application/x-www-form-urlencoded; charset=nope"}, b"a=b"),
    "form with invalid UTF-8": ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=%ff%fe&b=\xff"),
    "form with too many fields": (
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"&".join(b"f%d=1" % i for i in range(1500)),
    ),
    "JSON with an unknown charset": ({"Content-Type": "application/json; charset=nope"}, b'{"a": 1}'),
    "invalid JSON": ({"Content-Type": "application/json"}, b'{"a": '),
    "JSON that is not UTF-8": ({"Content-Type": "application/json"}, b'{"a": "\xff"}'),
    "JSON of the wrong shape": ({"Content-Type": "application/json"}, b"[1, 2, 3]"),
    "plain text": ({"Content-Type": "text/plain"}, b"hello"),
    "no content type": ({}, b"\x00\x01binary"),
    "form over the memory limit": ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * (LIMIT - 10)),
    "body over the limit": ({"Content-Type": "application/json"}, b" " * (LIMIT + 1)),
    "chunked body over the limit": ({"Content-Type": "application/json"}, lambda: iter([b" " * 40_000] * 3)),
    "a Host this server does not serve": ({"Host": "evil.example"}, None),
    "invalid percent-encoding in the query": ({}, None),
    "a malformed request id": ({"X-Request-ID": ("\u00e9" * 300).encode()}, None),
}


def send(client: httpx.Client, method: str, path: str, case: str) -> httpx.Response:
    headers, body = CASES[case]
    if case == "invalid percent-encoding in the query":
        path += "?x=%ff%zz&y=%"
    return client.request(method, path, headers=headers, content=body() if callable(body) else body)


def assert_client_error_or_success(response: httpx.Response, label: str) -> None:
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, f"{label}: {response.status_code} {response.text}"
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        assert response.headers["Content-Type"] == "application/problem+json", label
        problem = response.json()
        assert problem["status"] == response.status_code, label
        assert problem["detail"], label
        assert "Traceback" not in response.text, label


def callers(live_server_url, live_staff):
    anonymous = httpx.Client(base_url=live_server_url, timeout=30)
    staff = live_staff.client
    staff.headers["X-CSRFToken"] = live_staff.csrf_token
    return {"anonymous": anonymous, "staff": staff}


@pytest.mark.parametrize("case", list(CASES))
def test_no_malformed_request_gets_a_server_error(live_server_url, live_staff, case):
    for who, client in callers(live_server_url, live_staff).items():
        for method, path in OPERATIONS:
            response = send(client, method, path, case)
            assert_client_error_or_success(response, f"{who} {method} {path} {case}")
            if method == "GET" and CASES[case][1] is not None:  # refused, unless the caller is (401, 403)
                assert response.status_code >= HTTPStatus.BAD_REQUEST, f"{who} {method} {path} {case}"


@pytest.mark.parametrize("case", ["body over the limit", "chunked body over the limit"])
def test_a_body_over_the_limit_is_refused_on_every_operation(live_server_url, live_staff, case):
    for who, client in callers(live_server_url, live_staff).items():
        for method, path in OPERATIONS:
            response = send(client, method, path, case)
            assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{who} {method} {path}"
            assert response.json()["detail"] == f"The request body exceeds the limit of {LIMIT} bytes"


def test_a_body_on_get_is_refused(live_server_url):
    response = httpx.request("GET", f"{live_server_url}/api/health", content=b"{}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"] == "A GET request takes no body; send the data as query parameters"


@pytest.mark.parametrize(
    ("content_type", "detail"),
    [
        ("multipart/form-data", "The multipart body cannot be parsed: Invalid boundary in multipart: None"),
        ("multipart/form-data; boundary=", "The multipart body cannot be parsed: Invalid boundary in multipart: "),
    ],
)
def test_staff_post_with_a_broken_multipart_body_is_a_400_that_says_why(live_staff, content_type, detail):
    client = live_staff.client
    response = client.post(
        "/api/config/database/test",
        headers={"Content-Type": content_type, "X-CSRFToken": live_staff.csrf_token},
        content=b"--x\r\n\r\nvalue",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["type"] == "/problems/malformed-body"
    assert response.json()["detail"] == detail


def test_a_host_this_server_does_not_serve_says_so(live_server_url):
    response = httpx.get(f"{live_server_url}/api/health", headers={"Host": "evil.example"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"] == "The Host header names a host this server does not serve"


def test_a_csrf_failure_names_its_reason(live_staff):
    response = live_staff.client.post("/api/config/database/test", headers={"X-CSRFToken": "w" * 32})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["detail"] == "CSRF check failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect"
