"""The embedded PostgreSQL: version, long paths, and one clear line for each bad situation."""

import os
import shutil
import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from backend.db.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from tests.conftest import PROJECT_DIR, run_manage


def test_embedded_server_is_postgresql_18_with_native_uuidv7(embedded):
    with psycopg.connect(host="127.0.0.1", port=embedded.port, user="postgres", dbname="app") as connection:
        version = connection.execute("SHOW server_version_num").fetchone()[0]
        generated = connection.execute("SELECT uuidv7()").fetchone()[0]
        schema = connection.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE proname = 'uuidv7'"
        ).fetchall()
    assert 180000 <= int(version) < 190000
    assert generated.version == 7
    assert ("pg_catalog",) in schema  # the built-in one, not a fallback


def test_embedded_server_has_no_unix_socket(embedded):
    with psycopg.connect(host="127.0.0.1", port=embedded.port, user="postgres", dbname="app") as connection:
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
            port = server.ensure_running()
            with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="app") as connection:
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
