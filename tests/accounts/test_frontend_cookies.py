"""In production, behind a TLS proxy, the frontend on app.example.com gets cookies it can use from
the API on api.example.com: Secure, SameSite=Lax, the shared domain, the session HttpOnly; and its
login passes the CSRF origin check."""

from http import HTTPStatus

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.backend.test_checks import production_env
from tests.conftest import live_server

pytestmark = pytest.mark.django_db(transaction=True)
FRONTEND = "https://app.example.com"


@pytest.fixture
def api(test_database_env):
    env = production_env(
        **test_database_env,
        ALLOWED_HOSTS="api.example.com,127.0.0.1",
        CORS_ORIGINS=FRONTEND,
        CSRF_TRUSTED_ORIGINS=FRONTEND,
        SESSION_COOKIE_DOMAIN=".example.com",
        CSRF_COOKIE_DOMAIN=".example.com",
    )
    with live_server(env) as url:
        yield url


def test_production_cookies_and_a_cross_origin_login(api, django_user_model):
    # Hashed as production does (the suite's settings hash with MD5, which production refuses).
    password = PBKDF2PasswordHasher().encode("right-Password-42", "frontendsalt")
    django_user_model.objects.create(username="fe-user", password=password)
    proxy = {"Host": "api.example.com", "X-Forwarded-Proto": "https", "Origin": FRONTEND}
    with httpx.Client(base_url=api, headers=proxy) as browser:
        token = browser.get("/api/auth/csrf")
        assert token.headers["Access-Control-Allow-Origin"] == FRONTEND
        assert token.headers["Access-Control-Allow-Credentials"] == "true"
        csrf_cookie = token.headers["Set-Cookie"]
        for attribute in ("Domain=.example.com", "Secure", "SameSite=Lax"):
            assert attribute in csrf_cookie, csrf_cookie
        cookie = csrf_cookie.split(";")[0]  # csrftoken=...: sent by hand, the client's host is not api.example.com
        headers = {"X-CSRFToken": token.json()["csrf_token"], "Cookie": cookie}
        credentials = {"username": "fe-user", "password": "right-Password-42"}
        login = browser.post("/api/auth/login", json=credentials, headers=headers)
    assert login.status_code == HTTPStatus.OK, login.text
    session_cookie = next(value for value in login.headers.get_list("Set-Cookie") if value.startswith("sessionid="))
    for attribute in ("Domain=.example.com", "Secure", "HttpOnly", "SameSite=Lax"):
        assert attribute in session_cookie, session_cookie
