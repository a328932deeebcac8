"""`make bench-cluster`: two app "hosts" (gunicorn servers of one worker each, production settings)
behind HAProxy, which checks each with /api/health/ready, all through one PgBouncer (transaction
mode, DB_POOLER=pgbouncer) to the embedded PostgreSQL 18. Reports throughput and p99 through the
load balancer, the server connections PostgreSQL saw, what a host stopped and started again under
load costs, and whether a session made on one host is valid on the other. A benchmark, not a test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from backend.db.embedded import EmbeddedPostgres
from bench.orm import DATABASE, HTTPS, USERNAME, log_in_at, prepare
from bench.run import arguments, publish
from bench.serving import RESULTS_DIR, Server, bench_database, free_port, production_env, serve, wrk
from tools.pgbouncer import PgBouncer

HOSTS = 2
PGBOUNCER_POOL = 20
CONNECTIONS = 32
SERVERS_LOG = RESULTS_DIR / "servers.log"


def require_haproxy() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        subprocess.run(["tools/apt-require", "haproxy"], check=False)
    if not Path(found).exists():
        sys.exit("error: the cluster benchmark needs HAProxy: sudo apt-get install haproxy")
    return found


def haproxy_config(port: int, hosts: list[Server], admin: Path) -> str:
    servers = "\n".join(
        f"    server host{n} {server.url.removeprefix('http://')} check" for n, server in enumerate(hosts, 1)
    )
    return f"""\
global
    maxconn 4096
    stats socket {admin} level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
    retry-on conn-failure empty-response response-timeout

frontend api
    bind 127.0.0.1:{port}
    default_backend app

backend app
    balance roundrobin
    option httpchk
    http-check send meth GET uri /api/health/ready ver HTTP/1.1 hdr Host 127.0.0.1
    default-server inter 500ms fall 2 rise 2
{servers}
"""


@contextlib.contextmanager
def haproxy(hosts: list[Server]) -> Iterator[tuple[str, Path]]:
    folder = RESULTS_DIR / "haproxy"
    folder.mkdir(exist_ok=True)
    port, admin = free_port(), folder / "admin.sock"
    (folder / "haproxy.cfg").write_text(haproxy_config(port, hosts, admin))
    process = subprocess.Popen(
        [require_haproxy(), "-f", str(folder / "haproxy.cfg"), "-db"],
        stdout=(folder / "haproxy.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not all(status == "UP" for status in server_status(admin).values()):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"error: HAProxy did not mark the hosts up; see {folder / 'haproxy.log'}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", admin
    finally:
        process.terminate()
        process.wait(timeout=10)


def server_status(admin: Path) -> dict[str, str]:
    """Each host's state as HAProxy sees it (UP, DOWN, ...), from its admin socket."""
    try:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(admin))
            connection.sendall(b"show stat\n")
            data = b"".join(iter(lambda: connection.recv(65536), b""))
    except OSError:
        return {}
    rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
    return {row["svname"]: row["status"].split()[0] for row in rows if row["svname"].startswith("host")}


class Sampler(threading.Thread):
    """While it runs: the most server connections PostgreSQL had to the benchmark's database, and
    each change of a host's state in HAProxy, with its time."""

    def __init__(self, database: EmbeddedPostgres, admin: Path) -> None:
        super().__init__(daemon=True)
        self.database, self.admin = database, admin
        self.most_connections = 0
        self.changes: list[tuple[float, str, str]] = []
        self.started = time.monotonic()
        self.done = threading.Event()

    def run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        states: dict[str, str] = {}
        with self.database.connect("postgres") as connection:
            while not self.done.wait(0.1):
                (count,) = connection.execute(query, [DATABASE]).fetchone() or (0,)
                self.most_connections = max(self.most_connections, count)
                for host, state in server_status(self.admin).items():
                    if states.get(host) != state:
                        states[host] = state
                        self.changes.append((time.monotonic() - self.started, host, state))

    def stop(self) -> None:
        self.done.set()
        self.join()


def main() -> None:
    args = arguments(__doc__)
    lines = []
    with bench_database() as database:
        extra = prepare(database)  # migrated directly against PostgreSQL, as the README says to
        upstream = PgBouncer("127.0.0.1", database.port, "postgres", database.password, PGBOUNCER_POOL).start()
        hosts: list[Server] = []
        try:
            env = {**extra, **upstream.env(), "DB_NAME": DATABASE, "WEB_CONCURRENCY": "1"}
            for _ in range(HOSTS):
                hosts.append(
                    serve(
                        "config.asgi:application",
                        production_env(database, free_port(), **env),
                        "/api/health",
                        SERVERS_LOG,
                    )
                )
            with haproxy(hosts) as (url, admin):
                lines.append(session_across_hosts(hosts, extra["BENCH_PASSWORD"]))
                lines += ["", *load_table(database, admin, url, args.seconds, args.warmup)]
                lines += ["", stop_one_host(database, admin, url, hosts, env=env, seconds=args.seconds)]
        finally:
            for server in hosts:
                server.stop()
            upstream.close()
    header = (
        f"Cluster benchmark: {HOSTS} hosts x 1 worker, HAProxy (checks /api/health/ready every 0.5 s, down after 2 "
        f"failures, up after 2 passes), PgBouncer pool {PGBOUNCER_POOL}, embedded PostgreSQL 18; "
        f"wrk -t2 -c{CONNECTIONS} for {args.seconds} s."
    )
    publish("bench-cluster", header + "\n\n" + "\n".join(lines) + "\n")


def session_across_hosts(hosts: list[Server], password: str) -> str:
    session, _ = log_in_at(hosts[0].url, password)
    cookie = {"X-Forwarded-Proto": "https", "Cookie": f"sessionid={session}"}
    me = httpx.get(f"{hosts[1].url}/api/auth/me", headers=cookie)
    who = me.json().get("username") if me.status_code == 200 else me.text[:80]
    return f"A session made on host1, GET /api/auth/me on host2: {me.status_code} ({who})."


def load_table(database: EmbeddedPostgres, admin: Path, url: str, seconds: int, warmup: int) -> list[str]:
    lines = [
        "| through HAProxy | conns | req/s | p50 ms | p99 ms | non-2xx + errors | PostgreSQL connections (most) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, path in (
        ("/api/health/db", "/api/health/db"),
        ("ORM read by key, async", f"/bench/orm/user/{USERNAME}"),
    ):
        wrk(url + path, CONNECTIONS, warmup, headers=(HTTPS,))
        sampler = Sampler(database, admin)
        sampler.start()
        load = wrk(url + path, CONNECTIONS, seconds, headers=(HTTPS,))
        sampler.stop()
        bad = load.non_2xx + load.errors + load.timeouts
        figures = f"{load.requests_per_s:,.0f} | {load.p50_ms:.1f} | {load.p99_ms:.1f} | {bad}"
        lines.append(f"| {label} | {CONNECTIONS} | {figures} | {sampler.most_connections} |")
    return lines


def stop_one_host(
    database: EmbeddedPostgres, admin: Path, url: str, hosts: list[Server], *, env: dict[str, str], seconds: int
) -> str:
    """Load /api/health/db for a while; a third in, host2 stops (SIGTERM, graceful); two thirds in it
    starts again. What wrk saw, and when HAProxy took it out and back in."""
    sampler = Sampler(database, admin)
    outcome: dict = {}
    seconds = max(seconds, 9)
    loader = threading.Thread(target=lambda: outcome.update(load=wrk(url + "/api/health/db", CONNECTIONS, seconds)))
    sampler.start()
    loader.start()
    time.sleep(seconds / 3)
    stopped_at = time.monotonic() - sampler.started
    hosts[1].stop()
    time.sleep(max(0.0, 2 * seconds / 3 - (time.monotonic() - sampler.started)))
    started_at = time.monotonic() - sampler.started
    port = int(hosts[1].url.rsplit(":", 1)[1])
    hosts[1] = serve("config.asgi:application", production_env(database, port, **env), "/api/health", SERVERS_LOG)
    loader.join()
    sampler.stop()
    load = outcome["load"]
    changes = ", ".join(f"{host} {state} at {at:.1f} s" for at, host, state in sampler.changes if host == "host2")
    return (
        f"host2 stopped at {stopped_at:.1f} s and started again at {started_at:.1f} s, under {CONNECTIONS} connections "
        f"for {seconds} s: {load.requests_per_s:,.0f} req/s, p99 {load.p99_ms:.1f} ms, non-2xx {load.non_2xx}, "
        f"socket errors {load.errors}, timeouts {load.timeouts}. HAProxy: {changes}."
    )


if __name__ == "__main__":
    main()
