"""The embedded PostgreSQL: version, long paths, and one clear line for each bad situation."""

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from backend.db.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from tests.conftest import PROJECT_DIR, run_manage


def test_embedded_server_is_postgresql_18_with_native_uuidv7(embedded):
    with embedded.connect() as connection:
        version = connection.execute("SHOW server_version_num").fetchone()[0]
        generated = connection.execute("SELECT uuidv7()").fetchone()[0]
        schema = connection.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE proname = 'uuidv7'"
        ).fetchall()
    assert 180000 <= int(version) < 190000
    assert generated.version == 7
    assert ("pg_catalog",) in schema  # the built-in one, not a fallback


def test_embedded_server_has_no_unix_socket(embedded):
    with embedded.connect() as connection:
        assert connection.execute("SHOW unix_socket_directories").fetchone()[0] == ""
        assert connection.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"


def test_status_command_reports_the_running_server(embedded):
    result = run_manage("embedded_db", "status")
    assert result.returncode == 0
    assert f"running: PostgreSQL in {embedded.data_dir} on 127.0.0.1:{embedded.port}" in result.stdout


def test_a_checkout_under_a_path_longer_than_120_characters_works(open_tmp_path):
    checkout = open_tmp_path.joinpath(*["a-rather-long-folder-name-for-a-checkout"] * 4)
    assert len(str(checkout)) > 120
    shutil.copytree(
        PROJECT_DIR,
        checkout,
        ignore=shutil.ignore_patterns(".venv", ".tools", ".git", ".embedded-postgres", "__pycache__", ".*cache"),
    )
    env = {"EMBEDDED_PG_DIR": "", "DATABASE_URL": "", "DB_HOST": "", "APP_ENV": "development"}
    try:
        migrated = run_manage("migrate", "--no-input", cwd=checkout, env=env)
        assert migrated.returncode == 0, migrated.stderr
        status = run_manage("embedded_db", "status", cwd=checkout, env=env)
        assert f"running: PostgreSQL in {checkout}/.embedded-postgres/data" in status.stdout
    finally:
        stopped = run_manage("embedded_db", "stop", cwd=checkout, env=env)
    assert stopped.stdout.strip() == "stopped"


def test_distinct_checkouts_get_distinct_ports(tmp_path):
    first = EmbeddedPostgres(root=tmp_path / "one").port
    second = EmbeddedPostgres(root=tmp_path / "two").port
    assert first != second
    assert EmbeddedPostgres(root=tmp_path / "one").port == first  # kept once chosen


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_taken_port_gives_one_clear_line(tmp_path, taken_port):
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "port").write_text(f"{taken_port}\n")
    with pytest.raises(EmbeddedDatabaseError, match=rf"port {taken_port} on 127.0.0.1 is taken by another process"):
        EmbeddedPostgres(root=root).ensure_running()


@pytest.mark.parametrize("command", [["embedded_db", "start"], ["migrate", "--no-input"]])
def test_taken_port_stops_commands_without_a_traceback(tmp_path, taken_port, command):
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "port").write_text(f"{taken_port}\n")
    env = {"EMBEDDED_PG_DIR": str(root), "DATABASE_URL": "", "DB_HOST": "", "APP_ENV": "development"}
    result = run_manage(*command, env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"port {taken_port} on 127.0.0.1 is taken" in lines[0]


def test_unwritable_data_folder_gives_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(EmbeddedDatabaseError, match=r"the data folder .*a-file/cluster is not writable"):
        EmbeddedPostgres(root=blocker / "cluster").ensure_running()


def test_missing_binaries_give_one_clear_line(tmp_path):
    with pytest.raises(EmbeddedDatabaseError, match=r"no PostgreSQL binaries in .*missing-bin"):
        EmbeddedPostgres(root=tmp_path / "cluster", bin_dir=tmp_path / "missing-bin").ensure_running()


def test_closed_parent_folder_is_named_when_running_as_root(tmp_path):
    closed = tmp_path / "home-0700"
    closed.mkdir(mode=0o700)
    server = EmbeddedPostgres(root=closed / "cluster")
    if os.geteuid() == 0:
        # The unprivileged server user could not reach the cluster: say which folder blocks it.
        with pytest.raises(EmbeddedDatabaseError, match=rf"cannot enter {closed} \(mode 700\)"):
            server.ensure_running()
    else:
        # As a normal user the server runs as that user, who owns the folder: it simply works.
        try:
            server.ensure_running()
            with server.connect() as connection:
                assert isinstance(connection.execute("SELECT uuidv7()").fetchone()[0], uuid.UUID)
        finally:
            server.stop()


def test_unreadable_port_file_is_named(tmp_path):
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "port").write_text("not-a-number")
    with pytest.raises(EmbeddedDatabaseError, match=r"port does not hold a port number"):
        _ = EmbeddedPostgres(root=root).port


def test_project_cluster_lives_in_a_git_ignored_folder():
    ignored = (PROJECT_DIR / ".gitignore").read_text().splitlines()
    assert EmbeddedPostgres.for_project().root == Path(PROJECT_DIR / ".embedded-postgres")
    assert ".embedded-postgres/" in ignored


# -- authentication and sharing (a cluster of this module's own) -------------------------------


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="backend-cluster-"))
    root.chmod(0o755)  # the unprivileged server user must enter it
    server = EmbeddedPostgres(root=root / "cluster")
    server.ensure_running()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def connect_as_superuser(server: EmbeddedPostgres, password: str | None):
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user="postgres", dbname="app", password=password, connect_timeout=5
    )


def test_every_connection_needs_the_generated_password(cluster):
    assert stat.S_IMODE(cluster.password_file.stat().st_mode) == 0o600
    assert len(cluster.password) >= 32
    for password in (None, "wrong-password"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            connect_as_superuser(cluster, password).close()
    with connect_as_superuser(cluster, cluster.password) as connection:
        assert connection.execute("SELECT current_user").fetchone()[0] == "postgres"
    assert not (cluster.root / "initdb-password").exists()


def test_a_cluster_made_with_trust_authentication_gets_a_password(cluster):
    cluster.ensure_running()
    hba = cluster.data_dir / "pg_hba.conf"
    hba.write_text("host all all 127.0.0.1/32 trust\n")  # as initdb --auth=trust left it
    cluster.password_file.unlink()
    cluster.reload()
    cluster.ensure_running()
    assert "trust" not in hba.read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect_as_superuser(cluster, None).close()
    with connect_as_superuser(cluster, cluster.password) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_server_left_without_its_database_gets_it_back(cluster):
    # As a process killed between `pg_ctl start` and CREATE DATABASE leaves it.
    cluster.ensure_running()
    with cluster.connect("postgres") as connection:
        connection.execute("DROP DATABASE app WITH (FORCE)")
    assert EmbeddedPostgres(root=cluster.root).ensure_running() == cluster.port
    with cluster.connect() as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0] == "app"


USE_THE_CLUSTER = """
import sys
from backend.db.embedded import EmbeddedPostgres
print(EmbeddedPostgres(root=__import__("pathlib").Path(sys.argv[1])).ensure_running(), flush=True)
sys.stdin.read()  # holds the server until the test closes stdin
"""


def spawn_user(server: EmbeddedPostgres) -> subprocess.Popen:
    """Another process that starts (if needed) and uses the server until its stdin is closed."""
    return subprocess.Popen(
        [sys.executable, "-c", USE_THE_CLUSTER, str(server.root)],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def other_users(server: EmbeddedPostgres, count: int = 1):
    """Processes using the server; yields the ports they got once all are up; ends them after."""
    processes = [spawn_user(server) for _ in range(count)]
    try:
        yield [int(process.stdout.readline()) for process in processes]
    finally:
        for process in processes:
            process.stdin.close()
            assert process.wait(timeout=30) == 0


def test_concurrent_starts_share_one_server(cluster):
    cluster.stop()
    with other_users(cluster, 4) as ports:
        assert ports == [cluster.port] * 4
        assert cluster.is_running()


def test_the_session_stops_only_a_server_it_started_and_nobody_uses(cluster):
    cluster.stop()
    cluster.ensure_running()  # started by this process
    assert cluster.stop_if_unused()
    assert not cluster.is_running()

    cluster.ensure_running()  # started by this process, then used by another (a `make run`)
    with other_users(cluster):
        assert not cluster.stop_if_unused()
        assert cluster.is_running()

    cluster.stop()
    with other_users(cluster):  # started by another process: never stopped by this one
        cluster.ensure_running()
    assert not cluster.stop_if_unused()
    assert cluster.is_running()


def test_two_test_runs_at_once_each_get_their_own_database():
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "tests/backend/concurrent_run.py",
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE")}
    runs = [
        subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
    names = {
        line.split("=", 1)[1] for output in outputs for line in output.splitlines() if line.startswith("database=")
    }
    assert len(names) == 2
