"""The ORM endpoints `make bench-orm` measures (bench/orm.py), written as a product team would:
the project's URLs plus these, served with bench/orm_settings.py."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from asgiref.sync import sync_to_async
from django.db import transaction
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone
from ninja import NinjaAPI, Schema

from apps.accounts.models import LoginFailures, User
from backend import problems
from bench.orm_floors import READ_USER, USER_FIELDS, connection_pool
from config.urls import urlpatterns as project_urls

api = NinjaAPI(urls_namespace="bench-orm", docs_url=None, openapi_url=None)
problems.install(api)


class UserOut(Schema):
    id: UUID
    username: str
    email: str
    is_staff: bool
    date_joined: datetime


@api.get("/user/{username}", response=UserOut)
async def read_async(request: HttpRequest, username: str) -> User:
    return await User.objects.aget(username=username)


@api.get("/user-sync/{username}", response=UserOut)
def read_sync(request: HttpRequest, username: str) -> User:
    return User.objects.get(username=username)


@api.get("/user-sql/{username}", response=UserOut)
async def read_sql(request: HttpRequest, username: str) -> dict[str, Any]:
    """The same read without the ORM: the floor's SQL through its async pool, in the same Django
    stack (middleware, Ninja, the schema). No ORM endpoint can beat this one."""
    async with (await connection_pool()).connection() as connection:
        cursor = await connection.execute(READ_USER, [username])
        row = await cursor.fetchone()
    if row is None:
        raise User.DoesNotExist
    return dict(zip(USER_FIELDS, row, strict=True))


@transaction.atomic
def create_and_update() -> None:
    row = LoginFailures.objects.create(key=uuid4().hex, window_started_at=timezone.now(), failures=0)
    LoginFailures.objects.filter(pk=row.pk).update(failures=1)


@api.post("/write")
async def write(request: HttpRequest) -> dict[str, Any]:
    await sync_to_async(create_and_update)()
    return {"ok": True}


urlpatterns = [path("bench/orm/", api.urls), *project_urls]
