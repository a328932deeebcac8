"""What the benchmark scripts share: wrk, the embedded database, and servers started the production way."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.db.embedded import EmbeddedPostgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_DIR / ".bench"  # git-ignored


def require_wrk() -> str:
    """wrk from Debian's package: installed when we are root, else explained."""
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk)...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("error: the benchmark needs wrk: sudo apt-get install wrk")
    return wrk


@contextlib.contextmanager
def bench_database() -> Iterator[EmbeddedPostgres]:
    """wrk checked, .bench/ made, and the embedded PostgreSQL running; stopped afterwards only if
    the benchmark started it."""
    require_wrk()
    RESULTS_DIR.mkdir(exist_ok=True)
    database = EmbeddedPostgres.for_project()
    database.ensure_running()
    try:
        yield database
    finally:
        database.stop_if_unused()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(database: EmbeddedPostgres, port: int, **extra: str) -> dict[str, str]:
    """A correct production configuration, on the embedded PostgreSQL 18."""
    return {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CORS_ORIGINS": "https://app.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://app.example.com",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(database.port),
        "DB_NAME": "app",
        "DB_USER": "postgres",
        "DB_PASSWORD": database.password,
        "DATABASE_URL": "",
        "BENCH_DSN": f"host=127.0.0.1 port={database.port} dbname=app user=postgres password={database.password}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_FORMAT": "json",
        **extra,
    }


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    cold_start_s: float

    def worker_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False)
        return [int(pid) for pid in found.stdout.split()]

    def worker_cpu_s(self) -> float:
        """CPU seconds (user + system) its workers have used so far."""
        ticks = 0
        for pid in self.worker_pids():
            # Fields 14 and 15 of /proc/<pid>/stat, counted after the command's closing parenthesis.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def worker_rss_mib(self) -> float:
        total_kib = 0
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            total_kib += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        return total_kib / 1024

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """Master and workers: killing the master alone would leave its workers serving, orphaned."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


def serve(app: str, env: dict[str, str], probe_path: str, log_file: Path) -> Server:
    """gunicorn with the project's config and worker class; returns once probe_path answers 200."""
    url = f"http://127.0.0.1:{env['PORT']}"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", app],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log_file.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a failed start can take the workers down too
    )
    server = Server(process, url, 0.0)
    while True:
        try:
            if httpx.get(url + probe_path, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            server.kill()
            sys.exit(f"error: {app} exited with {process.returncode}; see {log_file}")
        if time.monotonic() - started > 60:
            server.kill()
            sys.exit(f"error: {app} did not answer within 60 s; see {log_file}")
        time.sleep(0.01)
    server.cold_start_s = time.monotonic() - started
    return server


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    timeouts: int
    non_2xx: int
    requests: int
    # The server's worker CPU per request, when measured (run_round): what a request costs, which
    # req/s alone hides when the worker waits on the database.
    cpu_ms: float | None = None


def median(loads: list[Load], field: str) -> float:
    return statistics.median(getattr(load, field) for load in loads)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def wrk(
    url: str, connections: int, seconds: int, *, threads: int = 2, headers: tuple[str, ...] = (), script: str = ""
) -> Load:
    """wrk's figures for one load; headers as "Name: value", script a wrk Lua file (a POST, say)."""
    options = [item for header in headers for item in ("-H", header)] + (["-s", script] if script else [])
    out = subprocess.run(
        [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *options, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)),
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)),
        errors=sum(int(n) for n in errors.groups()[:3]) if errors else 0,
        timeouts=int(errors.group(4)) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
    )
