"""Debian's PgBouncer in transaction mode in front of a PostgreSQL, for the tests and CI.

    python -m tools.pgbouncer run [--pool-size N] -- COMMAND...

runs COMMAND with DB_HOST/DB_PORT pointing at a PgBouncer started for it (in front of DB_HOST, or of
the embedded PostgreSQL when DB_HOST is not set) and DB_POOLER=pgbouncer, then stops it. PgBouncer
refuses to run as root: under root it runs as the embedded server's unprivileged account.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backend.db.embedded import EmbeddedPostgres

INSTALL = "apt-get install pgbouncer"


class PgBouncerError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgBouncer:
    """One PgBouncer: every database of the upstream server, for the upstream's user and password
    (checked with SCRAM, as a production PgBouncer would)."""

    upstream_host: str
    upstream_port: int
    user: str
    password: str
    pool_size: int = 5
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pgbouncer-")))
    process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        upstream = f"host={self.upstream_host} port={self.upstream_port} user={self.user}"
        if self.password:
            upstream += f" password={self.password}"
        return f"""\
[databases]
* = {upstream}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.folder / "users.txt"}
admin_users = {self.user}
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 1000
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {self.folder / "pgbouncer.log"}
"""

    def start(self) -> PgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise PgBouncerError(f"PgBouncer is not installed: {INSTALL}")
        account = EmbeddedPostgres.for_project().server_user  # None unless we are root
        (self.folder / "pgbouncer.ini").write_text(self.config())
        (self.folder / "users.txt").write_text(f'"{self.user}" "{self.client_password}"\n')
        if account is not None:
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.folder.chmod(0o700)  # the upstream password is in the configuration
        self.process = subprocess.Popen(
            [binary, str(self.folder / "pgbouncer.ini")],
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise PgBouncerError(f"PgBouncer did not start: {self.log()[-500:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # shut down at once, dropping connections
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def client_password(self) -> str:
        # A trust-auth upstream (CI's PostgreSQL 15) has no password; PgBouncer still asks for one.
        return self.password or "unused-with-trust-auth"

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def env(self) -> dict[str, str]:
        """What points a process at this PgBouncer."""
        return {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_PASSWORD": self.client_password,
            "DB_POOLER": "pgbouncer",
            "DATABASE_URL": "",
        }


@contextlib.contextmanager
def running(upstream: dict[str, str], pool_size: int) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(
        upstream["DB_HOST"], int(upstream["DB_PORT"]), upstream["DB_USER"], upstream["DB_PASSWORD"], pool_size
    )
    try:
        yield bouncer.start()
    finally:
        bouncer.close()


def upstream_from_environment() -> tuple[dict[str, str], EmbeddedPostgres | None]:
    if os.environ.get("DB_HOST"):
        keys = {"DB_HOST": "", "DB_PORT": "5432", "DB_USER": "postgres", "DB_PASSWORD": ""}
        return {key: os.environ.get(key) or default for key, default in keys.items()}, None
    embedded = EmbeddedPostgres.for_project()
    embedded.ensure_running()
    upstream = {"DB_HOST": "127.0.0.1", "DB_PORT": str(embedded.port), "DB_USER": "postgres"}
    return {**upstream, "DB_PASSWORD": embedded.password}, embedded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run"])
    parser.add_argument("--pool-size", type=int, default=10)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    if not command:
        parser.error("no command to run: tools.pgbouncer run [--pool-size N] -- COMMAND...")
    upstream, embedded = upstream_from_environment()
    try:
        with running(upstream, args.pool_size) as bouncer:
            print(
                f"== PgBouncer on 127.0.0.1:{bouncer.port} (transaction mode, pool {args.pool_size}) in front of "
                f"{upstream['DB_HOST']}:{upstream['DB_PORT']}",
                flush=True,
            )
            # Where the server itself is, for the tests that must ask it (tests/conftest.py, direct).
            server = {"TEST_DIRECT_DB_HOST": upstream["DB_HOST"], "TEST_DIRECT_DB_PORT": upstream["DB_PORT"]}
            return subprocess.run(command, env={**os.environ, **bouncer.env(), **server}, check=False).returncode
    except PgBouncerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop_if_unused()


if __name__ == "__main__":
    sys.exit(main())
