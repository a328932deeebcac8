"""UUIDv7 ids from the app and from plain SQL, on the configured server (18 and 15 in CI)."""

import time
import uuid

import pytest
from django.db import connection

from apps.accounts.models import User
from backend.db.uuid7 import uuid7


def timestamp_ms(value: uuid.UUID) -> int:
    return value.int >> 80


def test_app_ids_are_version_7_with_the_rfc_variant():
    value = uuid7()
    assert isinstance(value, uuid.UUID)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122  # the bits 10


def test_ids_are_time_ordered_within_the_process():
    ids = [uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert [value.int for value in ids] == sorted(value.int for value in ids)


def test_timestamp_matches_the_clock():
    before = int(time.time() * 1000)
    value = uuid7()
    after = int(time.time() * 1000)
    assert before <= timestamp_ms(value) <= after


@pytest.mark.django_db
def test_orm_assigns_the_id_before_saving():
    user = User(username="alice")
    assert user.id.version == 7
    user.save()
    assert User.objects.get(username="alice").id == user.id


@pytest.mark.django_db
def test_rows_inserted_by_plain_sql_get_a_uuidv7():
    before = int(time.time() * 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined, created_at, updated_at) "
            "VALUES ('', false, 'from-sql', '', '', '', false, true, now(), now(), now()) RETURNING id"
        )
        value = cursor.fetchone()[0]
    after = int(time.time() * 1000)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before - 5 <= timestamp_ms(value) <= after + 5  # the server's clock is this machine's


@pytest.mark.django_db
def test_sql_ids_are_ordered_too():
    with connection.cursor() as cursor:
        cursor.execute("SELECT uuidv7() FROM generate_series(1, 200)")
        values = [row[0] for row in cursor.fetchall()]
    # Within one millisecond the fallback is random after the timestamp, so compare milliseconds.
    assert [timestamp_ms(v) for v in values] == sorted(timestamp_ms(v) for v in values)
    assert all(v.version == 7 for v in values)
