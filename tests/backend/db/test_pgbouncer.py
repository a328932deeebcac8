"""Behind a real PgBouncer in transaction mode (Debian's, started here in front of the test
PostgreSQL, tools/pgbouncer.py), with DB_POOLER=pgbouncer's settings: what breaks without them
works with them, RLS ids stay in their transaction on a shared server connection, the health checks
answer, and the app recovers when PgBouncer restarts."""

import threading
from http import HTTPStatus

import httpx
import psycopg
import pytest
from django.db import DatabaseError, close_old_connections, connection, transaction

from apps.accounts.models import User
from backend.db.probe import DatabaseProbe
from backend.db.rls import USER_SETTING, acting_as
from backend.db.uuid7 import uuid7
from tests.conftest import direct, live_server
from tools.pgbouncer import PgBouncer, PgBouncerError

pytestmark = pytest.mark.django_db(transaction=True)


def start_pgbouncer(pool_size: int) -> PgBouncer:
    server = direct(connection.get_connection_params())  # in front of the server, not of another PgBouncer
    bouncer = PgBouncer(server["host"], int(server["port"]), server["user"], server.get("password", ""), pool_size)
    try:
        return bouncer.start()
    except PgBouncerError as error:
        pytest.fail(f"{error} (tools/apt-require pgbouncer)")


@pytest.fixture
def through_pgbouncer(request, monkeypatch):
    """This process's Django connections go through a PgBouncer of pool_size (the test's param)
    server connections, with the settings DB_POOLER=pgbouncer gives (Django's own pool off, so each
    thread's connection is its own PgBouncer client)."""
    bouncer = start_pgbouncer(getattr(request, "param", 1))
    connection.close()
    settings_dict = connection.settings_dict
    monkeypatch.setitem(settings_dict, "EMBEDDED", False)  # else the embedded server's own port is filled in
    monkeypatch.setitem(settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(settings_dict, "PORT", bouncer.port)
    monkeypatch.setitem(settings_dict, "PASSWORD", bouncer.client_password)
    monkeypatch.setitem(settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    monkeypatch.delitem(settings_dict["OPTIONS"], "pool")
    yield bouncer
    assert "login attempt" in bouncer.log()  # the test's connections did go through it
    connection.close()
    bouncer.close()


def in_thread(work):
    """work() on a thread of its own (so on a Django connection of its own), closed after."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = work()
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.fixture
def users():
    User.objects.bulk_create(User(username=f"pgbouncer-{n:04}") for n in range(250))
    return 250


def iterate_while_another_client_takes_a_server() -> int:
    """iterator() over the users, in chunks of 100; between the first fetch and the next, another
    client takes the server connection the first fetch ran on (the most recently released)."""
    hold, release = threading.Event(), threading.Event()

    def hold_a_server_connection():
        with transaction.atomic():
            User.objects.exists()
            hold.set()
            release.wait(10)

    seen, thread = 0, None
    try:
        for _ in User.objects.filter(username__startswith="pgbouncer-").order_by("pk").iterator(chunk_size=100):
            seen += 1
            if seen == 1:
                thread, outcome = in_thread(hold_a_server_connection)
                assert hold.wait(10)
    finally:
        release.set()
        if thread is not None:
            thread.join()
            assert "error" not in outcome
    return seen


@pytest.mark.parametrize("through_pgbouncer", [2], indirect=True)
@pytest.mark.usefixtures("users")
def test_iterator_reads_more_rows_than_one_fetch_while_others_use_the_servers(through_pgbouncer):
    assert iterate_while_another_client_takes_a_server() == 250
    with transaction.atomic():
        assert sum(1 for _ in User.objects.filter(username__startswith="pgbouncer-").iterator(chunk_size=100)) == 250


@pytest.mark.parametrize("through_pgbouncer", [2], indirect=True)
@pytest.mark.usefixtures("users")
def test_with_server_side_cursors_iterator_breaks_which_is_why_they_are_off(through_pgbouncer, monkeypatch):
    # Django's default on PostgreSQL: a cursor WITH HOLD, declared on one server connection; its next
    # fetch goes to another.
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", False)
    # (Django's error, or psycopg's own when closing the lost cursor after it.)
    with pytest.raises((DatabaseError, psycopg.errors.InvalidCursorName), match=r"cursor .* does not exist"):
        iterate_while_another_client_takes_a_server()


def test_rls_ids_stay_in_their_transaction_on_one_shared_server_connection(through_pgbouncer):
    alice, bob = uuid7(), uuid7()
    turns = {alice: threading.Event(), bob: threading.Event()}
    seen: dict = {alice: [], bob: []}

    def as_user(user_id, other_id):
        def work():
            for _ in range(20):
                assert turns[user_id].wait(10)
                turns[user_id].clear()
                with acting_as(user_id), connection.cursor() as cursor:
                    cursor.execute("SELECT current_setting(%s, true), pg_backend_pid()", [USER_SETTING])
                    seen[user_id].append(cursor.fetchone())
                with connection.cursor() as cursor:  # between its transactions: nobody's id
                    cursor.execute("SELECT current_setting(%s, true)", [USER_SETTING])
                    assert cursor.fetchone()[0] in {None, ""}
                turns[other_id].set()

        return work

    threads = [in_thread(as_user(alice, bob)), in_thread(as_user(bob, alice))]
    turns[alice].set()
    for thread, outcome in threads:
        thread.join(30)
        assert "error" not in outcome, outcome.get("error")
    for user_id, rows in seen.items():
        assert [setting for setting, _ in rows] == [str(user_id)] * 20
    alice_servers, bob_servers = ({pid for _, pid in seen[user_id]} for user_id in (alice, bob))
    assert alice_servers & bob_servers  # the two users' transactions took turns on a server connection


async def test_the_health_checks_answer_through_it(through_pgbouncer):
    params = {"host": "127.0.0.1", "port": through_pgbouncer.port, "dbname": connection.settings_dict["NAME"]}
    probe = DatabaseProbe(params | {"user": through_pgbouncer.user, "password": through_pgbouncer.client_password})
    try:
        for _ in range(20):  # past psycopg's prepare threshold (5): a prepared statement would break here
            assert (await probe.ping(2)).latency_ms > 0
        assert ("accounts", "0001_initial") in await probe.applied_migrations(2)
    finally:
        await probe.close()


def test_served_app_recovers_when_pgbouncer_restarts(test_database_env):
    bouncer = start_pgbouncer(2)
    try:
        env = {**test_database_env, **bouncer.env(), "DJANGO_SETTINGS_MODULE": "tests.serving.settings"}
        paths = ("/api/health/db", "/api/health/ready", "/api/test/orm-async", "/api/test/orm-sync")
        with live_server(env) as url, httpx.Client(base_url=url, timeout=10) as client:
            for path in paths:
                assert client.get(path).status_code == HTTPStatus.OK, path
            bouncer.restart()  # every client connection, pooled and the probe's, is cut
            statuses = [client.get(path).status_code for _ in range(6) for path in paths]
        assert set(statuses) <= {HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE}, statuses  # never a 500
        assert statuses[-8:] == [HTTPStatus.OK] * 8, statuses
    finally:
        bouncer.close()
        close_old_connections()
