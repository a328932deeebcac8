"""The Django admin, with its static files served by whitenoise, with and without DEBUG."""

import re
from http import HTTPStatus

import pytest
from django.test import Client


@pytest.mark.parametrize("debug", [True, False])
def test_admin_login_page_and_its_stylesheet_are_served(settings, debug):
    settings.DEBUG = debug
    client = Client()  # a new handler, so middleware sees the setting
    page = client.get("/admin/login/")
    assert page.status_code == HTTPStatus.OK
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.content.decode())
    assert "/static/admin/css/base.css" in stylesheets
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == HTTPStatus.OK
    assert css["Content-Type"].startswith("text/css")


@pytest.mark.django_db
def test_staff_sees_users_with_id_and_creation_time(admin_client, admin_user):
    page = admin_client.get("/admin/accounts/user/")
    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert str(admin_user.id) in text
    assert "Created at" in text


@pytest.mark.django_db
def test_admin_messages_reach_the_next_page(admin_client):
    response = admin_client.post("/admin/auth/group/add/", {"name": "editors"}, follow=True)
    assert response.status_code == HTTPStatus.OK
    assert "was added successfully" in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_admin_messages_reach_the_next_page_under_asgi(asgi_client, admin_user):
    await asgi_client.get("/admin/login/")  # the client keeps the cookies from here on
    token = asgi_client.cookies["csrftoken"]
    login = {"username": admin_user.username, "password": "password", "csrfmiddlewaretoken": token}
    assert (await asgi_client.post("/admin/login/", data=login)).status_code == HTTPStatus.FOUND
    token = asgi_client.cookies["csrftoken"]  # rotated at login
    add = await asgi_client.post("/admin/auth/group/add/", data={"name": "editors", "csrfmiddlewaretoken": token})
    assert add.status_code == HTTPStatus.FOUND
    listing = await asgi_client.get(add.headers["Location"])
    assert "was added successfully" in listing.text
    again = await asgi_client.get(add.headers["Location"])
    assert "was added successfully" not in again.text  # shown once, then gone
