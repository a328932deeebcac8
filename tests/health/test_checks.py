"""The database and readiness checks against real PostgreSQL servers, and their failures."""

import asyncio
import collections
import contextlib
import socket
import threading
import time
from http import HTTPStatus

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.health import services
from backend.db.embedded import EmbeddedPostgres
from backend.db.probe import PARAM_KEYS, DatabaseProbe
from tests.conftest import direct, free_port

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 1.0


@pytest.fixture
def db_params() -> dict:
    """Connection parameters of the suite's database (the test database on the configured server)."""
    params = connection.get_connection_params()
    return {key: params[key] for key in PARAM_KEYS if params.get(key) not in (None, "")}


@pytest.fixture
def server_major() -> str:
    return str(connection.pg_version // 10000)


@pytest.fixture
def use_probe(monkeypatch, settings):
    """Point the health checks at a given server, with a short DB_HEALTH_TIMEOUT."""
    settings.DB_HEALTH_TIMEOUT = TIMEOUT
    probes = []

    def use(params: dict) -> DatabaseProbe:
        probe = DatabaseProbe(params=params)
        probes.append(probe)
        monkeypatch.setattr(services, "probe", probe)
        return probe

    yield use
    for probe in probes:
        probe.discard()


@pytest.fixture
def silent_server():
    """A server that accepts TCP connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def assert_problem(response, status: HTTPStatus, kind: str):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{kind}"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


@pytest.fixture
def staff_session(django_user_model, client) -> dict:
    """Headers with the session of a logged-in staff user (committed: these tests run in transactions)."""
    client.force_login(django_user_model.objects.create_user("health-staff", is_staff=True))
    name = settings.SESSION_COOKIE_NAME
    return {"Cookie": f"{name}={client.cookies[name].value}"}


async def test_database_check_tells_anyone_only_that_it_answers(asgi_client, use_probe, db_params):
    use_probe(db_params)
    response = await asgi_client.get("/api/health/db")
    assert response.status_code == HTTPStatus.OK
    assert response.headers["Cache-Control"] == "no-store"
    database = response.json()["database"]
    assert database["vendor"] == "postgresql"
    assert 0 < database["latency_ms"] < TIMEOUT * 1000
    assert database["server_version"] is None
    assert database["pool"] is None


async def test_database_check_reports_the_server_to_staff(
    asgi_client, use_probe, db_params, server_major, staff_session
):
    use_probe(db_params)
    response = await asgi_client.get("/api/health/db", headers=staff_session)
    assert response.status_code == HTTPStatus.OK
    database = response.json()["database"]
    assert database["server_version"].split(".")[0] == server_major
    assert database["pool"]["max_size"] >= 1


async def test_refused_connection_is_a_503_within_the_timeout(asgi_client, use_probe):
    use_probe({"host": "127.0.0.1", "port": free_port(), "dbname": "app", "user": "postgres"})
    started = time.monotonic()
    response = await asgi_client.get("/api/health/db")
    assert time.monotonic() - started < TIMEOUT + 0.5
    body = assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "database-refused")
    assert "127.0.0.1" not in body["detail"]


async def test_rejected_role_is_an_auth_failure(asgi_client, use_probe, db_params):
    use_probe({**db_params, "user": "no_such_role_here", "password": "wrong-password"})
    response = await asgi_client.get("/api/health/db")
    body = assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "database-auth")
    assert "wrong-password" not in response.text
    assert "no_such_role_here" not in body["detail"]


async def test_a_wrong_password_is_an_auth_failure(asgi_client, use_probe, embedded):
    # The embedded server checks passwords (scram), whatever server the suite runs on.
    use_probe({"host": "127.0.0.1", "port": embedded.port, "dbname": "app", "user": "postgres", "password": "wrong"})
    response = await asgi_client.get("/api/health/db")
    assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "database-auth")
    assert embedded.password not in response.text


async def test_silent_server_times_out_while_liveness_still_answers(asgi_client, use_probe, silent_server):
    use_probe({"host": "127.0.0.1", "port": silent_server, "dbname": "app", "user": "postgres"})
    started = time.monotonic()
    check = asyncio.create_task(asgi_client.get("/api/health/db"))
    await asyncio.sleep(0.2)  # the check is now waiting on the silent server
    liveness_started = time.monotonic()
    liveness = await asgi_client.get("/api/health")
    liveness_took = time.monotonic() - liveness_started
    assert not check.done()
    response = await check
    elapsed = time.monotonic() - started
    assert liveness.status_code == HTTPStatus.OK
    assert liveness_took < 0.5
    assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "database-timeout")
    assert TIMEOUT - 0.05 <= elapsed < TIMEOUT + 0.5


async def test_recovers_after_the_embedded_server_restarts(asgi_client, use_probe, open_tmp_path):
    server = EmbeddedPostgres(root=open_tmp_path / "cluster")
    port = await asyncio.to_thread(server.ensure_running)
    try:
        use_probe({"host": "127.0.0.1", "port": port, "dbname": "app", "user": "postgres", "password": server.password})
        statuses = [(await asgi_client.get("/api/health/db")).status_code]
        await asyncio.to_thread(server.stop)
        statuses.append((await asgi_client.get("/api/health/db")).status_code)
        await asyncio.to_thread(server.ensure_running)
        statuses.append((await asgi_client.get("/api/health/db")).status_code)
    finally:
        await asyncio.to_thread(server.stop)
    assert statuses == [HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.OK]


class StallingProxy:
    """A TCP proxy to the database that can stall: its connections go silent for good (as after a
    network partition or a failover), and after recovery new connections work again."""

    def __init__(self, target: dict) -> None:
        self.target = target
        self.generation = 0
        self.stalled = False

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()

    def recover(self) -> None:
        self.stalled = False
        self.generation += 1

    async def _handle(self, reader, writer) -> None:
        generation = self.generation
        upstream_reader, upstream_writer = await asyncio.open_connection(self.target["host"], self.target["port"])

        async def pipe(source, sink):
            while data := await source.read(65536):
                if not self.stalled and generation == self.generation:
                    sink.write(data)
                    await sink.drain()
            sink.close()

        with contextlib.suppress(OSError):
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_fifty_concurrent_checks_across_a_stall_all_pass_after_recovery(asgi_client, use_probe, db_params):
    proxy = StallingProxy(db_params)
    async with proxy as port:
        use_probe({**db_params, "host": "127.0.0.1", "port": port})
        loop = asyncio.get_running_loop()
        outcomes: list[tuple[float, float, int]] = []  # started, ended, status
        running = True

        async def checker(index: int) -> None:
            await asyncio.sleep(index * 0.01)
            while running:
                started = loop.time()
                status = (await asgi_client.get("/api/health/db")).status_code
                outcomes.append((started, loop.time(), status))

        checkers = [asyncio.create_task(checker(index)) for index in range(50)]
        await asyncio.sleep(0.5)
        stalled = loop.time()
        proxy.stalled = True
        await asyncio.sleep(TIMEOUT * 2.5)  # checks time out, and the next ones too
        recovered = loop.time()
        proxy.recover()
        await asyncio.sleep(TIMEOUT * 4)  # every check begun before the recovery has ended by now
        running = False
        await asyncio.gather(*checkers)

    before = {status for _, ended, status in outcomes if ended < stalled}
    during = {status for started, ended, status in outcomes if started > stalled and ended < recovered}
    # A connection begun in the stall may hang until its deadline after the recovery, and a check
    # queued behind it with it: from one timeout after the recovery, nothing may fail.
    after = [status for started, _, status in outcomes if started >= recovered + TIMEOUT]
    assert before == {HTTPStatus.OK}
    assert during == {HTTPStatus.SERVICE_UNAVAILABLE}
    # The contract's bound (503 within DB_HEALTH_TIMEOUT even when the server hangs), for every check.
    assert max(ended - started for started, ended, _ in outcomes) < TIMEOUT + 0.5
    assert len(after) > 50
    assert set(after) == {HTTPStatus.OK}, collections.Counter(after)


def backend_connections(params: dict) -> int:
    with psycopg.connect(**{**params, "application_name": "counter"}) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [params["application_name"]]
        ).fetchone()[0]


async def test_checks_past_their_deadline_never_have_their_connection_freed_under_them(
    monkeypatch, use_probe, db_params
):
    """At a check's deadline the shared connection is dropped, with other checks still waiting on
    it. Freeing libpq's connection then (what PQfinish does) left psycopg's C code using freed
    memory: once it froze the test process, in CI, for good. Each check's query must end before its
    connection is freed, and every check must still fail in time."""
    freed_during_a_query = []

    class Recording(psycopg.AsyncConnection):
        async def execute(self, *args, **kwargs):
            try:
                return await super().execute(*args, **kwargs)
            finally:
                freed_during_a_query.append(self.pgconn.pgconn_ptr is None)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", Recording.connect)
    proxy = StallingProxy(db_params)
    async with proxy as port:
        probe = use_probe({**db_params, "host": "127.0.0.1", "port": port})
        await probe.ping(TIMEOUT)
        proxy.stalled = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(*(probe.ping(TIMEOUT) for _ in range(20)), return_exceptions=True)
        took = loop.time() - started
    assert {getattr(outcome, "kind", outcome) for outcome in outcomes} == {"timeout"}
    assert took < TIMEOUT + 0.5
    assert len(freed_during_a_query) == 21
    assert not any(freed_during_a_query)


async def test_checks_do_not_leak_connections(asgi_client, use_probe, db_params, settings):
    params = {**direct(db_params), "application_name": "health-leak-test"}  # the server's own count
    use_probe(params)
    # 200 checks at once queue on the one connection: on a slow machine the last ones can wait past
    # a 1 s deadline (then all fail, by design). This test counts connections, not time.
    settings.DB_HEALTH_TIMEOUT = 10
    assert (await asgi_client.get("/api/health/db")).status_code == HTTPStatus.OK
    before = await asyncio.to_thread(backend_connections, params)
    for _ in range(1000):
        assert (await services.database_health(details=False))["status"] == "ok"
    responses = await asyncio.gather(*(asgi_client.get("/api/health/db") for _ in range(200)))
    assert {response.status_code for response in responses} == {HTTPStatus.OK}
    after = await asyncio.to_thread(backend_connections, params)
    assert before == after == 1


async def test_ready_when_database_answers_and_migrations_are_applied(asgi_client, use_probe, db_params):
    use_probe(db_params)
    response = await asgi_client.get("/api/health/ready")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


async def test_not_ready_names_an_unapplied_migration_to_staff_only(
    asgi_client, use_probe, db_params, settings, staff_session
):
    use_probe(db_params)
    settings.MIGRATION_MODULES = {"health": "tests.health.pending_migrations"}
    services.migrations_on_disk.cache_clear()
    try:
        anonymous = await asgi_client.get("/api/health/ready")
        staff = await asgi_client.get("/api/health/ready", headers=staff_session)
    finally:
        services.migrations_on_disk.cache_clear()
    body = assert_problem(anonymous, HTTPStatus.SERVICE_UNAVAILABLE, "not-ready")
    assert body["checks"] == {"database": "ok", "migrations": "failing"}
    assert body["detail"] == "failing checks: migrations"
    assert "0001_pending" not in anonymous.text
    body = assert_problem(staff, HTTPStatus.SERVICE_UNAVAILABLE, "not-ready")
    assert body["checks"] == {"database": "ok", "migrations": "unapplied: health.0001_pending"}
    assert "health.0001_pending" in body["detail"]


async def test_not_ready_when_the_database_is_down(asgi_client, use_probe, staff_session):
    use_probe({"host": "127.0.0.1", "port": free_port(), "dbname": "app", "user": "postgres"})
    response = await asgi_client.get("/api/health/ready")
    body = assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "not-ready")
    assert body["checks"] == {"database": "failing", "migrations": "failing"}
    response = await asgi_client.get("/api/health/ready", headers=staff_session)
    body = assert_problem(response, HTTPStatus.SERVICE_UNAVAILABLE, "not-ready")
    assert body["checks"]["database"] == "the database refused the connection"


def test_migration_graph_loads_once_per_process():
    services.migrations_on_disk.cache_clear()
    services.pending_migrations(set())
    services.pending_migrations(set())
    assert services.migrations_on_disk.cache_info().misses == 1
