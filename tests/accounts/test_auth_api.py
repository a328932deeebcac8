"""/api/auth/*: the CSRF token, login (one answer for wrong credentials, inactive users, throttling
shared by every process), logout and me; the session key changes on login; no password leaks."""

import json
import logging
from http import HTTPStatus

import httpx
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client

from apps.accounts.models import LoginFailures

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct-Horse-battery-9"
WRONG = "wrong-Horse-battery-9"


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("ada", email="ada@example.com", password=PASSWORD)


class Frontend:
    """What a frontend does: fetch the CSRF token, then send it in X-CSRFToken on unsafe requests."""

    def __init__(self, address: str = "203.0.113.7") -> None:
        self.client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
        self.token = ""

    def csrf(self):
        response = self.client.get("/api/auth/csrf")
        self.token = response.json()["csrf_token"]
        return response

    def post(self, path: str, body: dict | None = None, csrf: bool = True):
        if csrf and not self.token:
            self.csrf()
        headers = {"X-CSRFToken": self.token} if csrf else {}
        return self.client.post(path, json.dumps(body or {}), content_type="application/json", headers=headers)

    def login(self, username: str, password: str):
        response = self.post("/api/auth/login", {"username": username, "password": password})
        if response.status_code == HTTPStatus.OK:
            self.token = response.json()["csrf_token"]
        return response

    def me(self):
        return self.client.get("/api/auth/me")


def problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


def test_csrf_sets_the_cookie_and_returns_its_token():
    frontend = Frontend()
    response = frontend.csrf()
    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"] == "no-store"
    assert len(frontend.token) == 64
    assert response.cookies["csrftoken"].value  # the cookie the token is checked against
    assert response.cookies["csrftoken"]["samesite"] == "Lax"


def test_login_answers_the_user_and_a_new_session_and_token(user):
    frontend = Frontend()
    frontend.csrf()
    token_before = frontend.token
    response = frontend.login("ada", PASSWORD)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["user"] == {"id": str(user.id), "username": "ada", "email": "ada@example.com", "is_staff": False}
    assert body["csrf_token"] != token_before  # login rotates the token
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert frontend.me().json()["username"] == "ada"


def test_the_session_key_changes_on_login(user):
    anonymous = SessionStore()
    anonymous["theme"] = "dark"  # an anonymous session a fixation attack could have planted
    anonymous.create()
    frontend = Frontend()
    frontend.client.cookies["sessionid"] = anonymous.session_key
    keys = [anonymous.session_key]
    for _ in range(2):  # and again when logging in over the user's own session
        assert frontend.login("ada", PASSWORD).status_code == HTTPStatus.OK
        keys.append(frontend.client.cookies["sessionid"].value)
    assert len(set(keys)) == 3
    assert list(Session.objects.values_list("session_key", flat=True)) == keys[-1:]  # old keys are gone


def test_wrong_password_and_unknown_user_get_one_answer(user):
    wrong_password = problem(Frontend().login("ada", WRONG), 401, "invalid-credentials")
    unknown_user = problem(Frontend().login("nobody", WRONG), 401, "invalid-credentials")
    for body in (wrong_password, unknown_user):
        del body["request_id"]
    assert wrong_password == unknown_user
    assert wrong_password["detail"] == "The username or password is wrong"


def test_an_inactive_user_gets_403_only_with_the_right_password(user):
    user.is_active = False
    user.save()
    body = problem(Frontend().login("ada", PASSWORD), 403, "account-inactive")
    assert body["detail"] == "This account is inactive"
    problem(Frontend().login("ada", WRONG), 401, "invalid-credentials")


@pytest.mark.parametrize(
    ("cookie", "header", "reason"),
    [
        (False, False, "CSRF cookie not set"),
        (True, False, "CSRF token missing"),
        (True, True, "CSRF token from the 'X-Csrftoken' HTTP header incorrect"),
    ],
)
def test_login_without_a_valid_csrf_token_is_403(user, cookie, header, reason):
    frontend = Frontend()
    if cookie:
        frontend.csrf()
    if header:
        frontend.token = "x" * 64
    body = problem(
        frontend.post("/api/auth/login", {"username": "ada", "password": PASSWORD}, csrf=header), 403, "csrf-failed"
    )
    assert body["detail"] == f"CSRF check failed: {reason}"
    assert "sessionid" not in frontend.client.cookies


def test_logout_ends_the_session(user):
    frontend = Frontend()
    frontend.login("ada", PASSWORD)
    problem(frontend.post("/api/auth/logout", csrf=False), 403, "csrf-failed")
    assert frontend.me().status_code == HTTPStatus.OK
    response = frontend.post("/api/auth/logout")
    assert response.status_code == HTTPStatus.NO_CONTENT
    problem(frontend.me(), 401, "unauthenticated")
    assert not Session.objects.exists()


def test_me_and_logout_are_401_when_anonymous():
    body = problem(Frontend().me(), 401, "unauthenticated")
    assert body["detail"] == "This operation needs a logged-in session: log in first"
    problem(Frontend().post("/api/auth/logout"), 401, "unauthenticated")


def test_failures_per_username_are_throttled_with_retry_after(user, settings):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        problem(Frontend().login("ada", WRONG), 401, "invalid-credentials")  # each from a new address
    refused = Frontend().login("ADA", PASSWORD)  # the right password, another case: still throttled
    body = problem(refused, 429, "too-many-requests")
    assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_FAILURES_WINDOW
    assert f"try again in {refused['Retry-After']} s" in body["detail"]
    assert Frontend().login("someone-else", WRONG).status_code == HTTPStatus.UNAUTHORIZED


def test_failures_per_address_are_throttled(user, settings):
    frontend = Frontend(address="198.51.100.1")
    for attempt in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        problem(frontend.login(f"guess-{attempt}", WRONG), 401, "invalid-credentials")
    problem(frontend.login("ada", PASSWORD), 429, "too-many-requests")
    assert Frontend(address="198.51.100.2").login("ada", PASSWORD).status_code == HTTPStatus.OK


def test_a_login_clears_its_failures(user, settings):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME - 1):
        Frontend().login("ada", WRONG)
    assert Frontend().login("ada", PASSWORD).status_code == HTTPStatus.OK
    assert not LoginFailures.objects.exists()
    assert Frontend().login("ada", WRONG).status_code == HTTPStatus.UNAUTHORIZED  # counting starts over


def test_an_expired_window_counts_again(user, settings):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        Frontend().login("ada", WRONG)
    settings.LOGIN_FAILURES_WINDOW = 0  # the window has passed
    assert Frontend().login("ada", PASSWORD).status_code == HTTPStatus.OK


def test_the_throttle_is_shared_with_another_process(user, settings, live_server_url):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        Frontend().login("ada", WRONG)
    with httpx.Client(base_url=live_server_url, headers={"Referer": f"{live_server_url}/"}) as other_worker:
        token = other_worker.get("/api/auth/csrf").json()["csrf_token"]
        response = other_worker.post(
            "/api/auth/login", json={"username": "ada", "password": PASSWORD}, headers={"X-CSRFToken": token}
        )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ada", "password": PASSWORD},
        {"username": "ada", "password": WRONG},
        {"username": "ada", "password": WRONG + "x" * 2000},  # too long: 422
        {"username": ["ada"], "password": WRONG},  # not a string: 422
        {"password": WRONG},
    ],
)
def test_no_response_or_log_line_carries_the_password(user, caplog, body):
    caplog.set_level(logging.DEBUG)
    frontend = Frontend()
    response = frontend.post("/api/auth/login", body)
    assert response.status_code in {200, 401, 422}
    if response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY:
        assert response.json()["errors"]
    password = body["password"]
    assert password not in response.content.decode()
    assert password not in caplog.text
    assert password[:12] not in json.dumps(dict(response.headers))


@pytest.mark.parametrize(
    ("raw_username", "message"),
    [('"ad\\u0000a"', "must not contain NUL characters"), ('"ad\\ud999a"', "valid string")],
)
def test_text_that_cannot_be_stored_is_422_naming_the_field(user, raw_username, message):
    frontend = Frontend()
    frontend.csrf()
    body = f'{{"username": {raw_username}, "password": "{WRONG}"}}'
    response = frontend.client.post(
        "/api/auth/login", body, content_type="application/json", headers={"X-CSRFToken": frontend.token}
    )
    errors = problem(response, 422, "validation-error")["errors"]
    assert [error["pointer"] for error in errors] == ["/username"]
    assert message in errors[0]["detail"]
