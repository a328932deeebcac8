"""`make bench-orm`: endpoints that read and write through Django's ORM against raw ASGI floors
doing the same SQL through a psycopg async pool (bench/orm_floors.py), all served the production
way (gunicorn, one uvicorn worker, full middleware) on the embedded PostgreSQL 18, in a database of
the benchmark's own; rounds interleaved. Beside them: the same read without the ORM in the same
Django stack (the ceiling of any ORM read here), and FastAPI + SQLAlchemy, the stack this project
replaces (bench/sqlalchemy_app.py). A benchmark, not a test: it reports the targets of the ORM-path
issue as met or not, and exits 0 either way.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import httpx

from backend.db.embedded import EmbeddedPostgres
from bench.run import arguments, floor_ratio, publish, run_round, table
from bench.serving import RESULTS_DIR, bench_database, free_port, median, production_env, serve

DATABASE = "bench_orm"
USERNAME = "bench-reader"
FRONTEND = "https://app.example.com"
# Production redirects plain HTTP; the benchmark stands where a TLS proxy would.
HTTPS = "X-Forwarded-Proto: https"
READ = "ORM read by key, async view"
WRITE = "ORM create + update in a transaction, async"
ME = "/api/auth/me"
SQLALCHEMY = {
    "read": "FastAPI + SQLAlchemy AsyncSession: read by key",
    "write": "FastAPI + SQLAlchemy AsyncSession: create + update in a transaction",
    "me": "FastAPI + SQLAlchemy AsyncSession: session, then user",
}
# The read's ceiling in this stack: the floor's SQL in an async Django view, no ORM.
NO_ORM = "same read without the ORM, async view (raw SQL, async pool)"


def prepare(database: EmbeddedPostgres) -> dict[str, str]:
    """A fresh database of the benchmark's own, migrated, with one user; its servers' variables."""
    with database.connect("postgres") as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    dsn = f"host=127.0.0.1 port={database.port} dbname={DATABASE} user=postgres password={database.password}"
    extra = {"DB_NAME": DATABASE, "BENCH_DSN": dsn, "DJANGO_SETTINGS_MODULE": "bench.orm_settings"}
    extra["SECRET_KEY"] = secrets.token_urlsafe(64)  # one for every server: sessions are signed with it
    password = secrets.token_urlsafe(16)
    env = production_env(database, free_port(), **extra)
    user = {"DJANGO_SUPERUSER_USERNAME": USERNAME, "DJANGO_SUPERUSER_EMAIL": "reader@example.com"}
    for command in (["migrate", "--no-input"], ["createsuperuser", "--no-input"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            env={**env, **user, "DJANGO_SUPERUSER_PASSWORD": password},
            check=True,
            capture_output=True,
        )
    return {**extra, "BENCH_PASSWORD": password}


def log_in(database: EmbeddedPostgres, env: dict[str, str]) -> tuple[str, str]:
    """A session of the benchmark's user, through /api/auth/login: its key and the user's id."""
    env = production_env(database, free_port(), **env)
    server = serve("config.asgi:application", env, "/api/health", RESULTS_DIR / "servers.log")
    try:
        return log_in_at(server.url, env["BENCH_PASSWORD"])
    finally:
        server.stop()


def log_in_at(url: str, password: str) -> tuple[str, str]:
    """POST /api/auth/login as the frontend does (CSRF token first), behind a TLS proxy."""
    headers = {"X-Forwarded-Proto": "https", "Origin": FRONTEND}
    with httpx.Client(base_url=url, headers=headers) as client:
        token = client.get("/api/auth/csrf").json()["csrf_token"]
        login = client.post(
            "/api/auth/login",
            json={"username": USERNAME, "password": password},
            headers={"X-CSRFToken": token, "Cookie": f"csrftoken={client.cookies['csrftoken']}"},
        )
        login.raise_for_status()
        return login.cookies["sessionid"], login.json()["user"]["id"]


def targets(session: str, user_id: str) -> tuple[list, dict[str, str]]:
    post = RESULTS_DIR / "post.lua"
    post.write_text('wrk.method = "POST"\n')
    https = {"headers": (HTTPS,)}
    app = [
        (READ, f"/bench/orm/user/{USERNAME}", "floor: read", https),
        ("ORM read by key, sync view", f"/bench/orm/user-sync/{USERNAME}", "floor: read", https),
        (NO_ORM, f"/bench/orm/user-sql/{USERNAME}", "floor: read", https),
        (WRITE, "/bench/orm/write", "floor: write", {**https, "script": str(post)}),
        (ME, "/api/auth/me", "floor: me", {"headers": (HTTPS, f"Cookie: sessionid={session}")}),
    ]
    # The stack this project replaces, on the same rows (bench/sqlalchemy_app.py).
    plan = [
        (SQLALCHEMY["read"], f"/user/{USERNAME}", "floor: read"),
        (SQLALCHEMY["write"], "/write", "floor: write", {"script": str(post)}),
        (SQLALCHEMY["me"], f"/me?session_key={session}&user={user_id}", "floor: me"),
    ]
    floors = [
        ("floor: read", "bench.orm_floors:read", [("floor: read", f"/?username={USERNAME}", None)]),
        ("floor: write", "bench.orm_floors:write", [("floor: write", "/", None, {"script": str(post)})]),
        ("floor: me", "bench.orm_floors:me", [("floor: me", f"/?session={session}&user={user_id}", None)]),
    ]
    floor_of = {label: floor for label, _, floor, *_ in app + plan}
    served = [("app", "config.asgi:application", app), ("FastAPI + SQLAlchemy", "bench.sqlalchemy_app:app", plan)]
    return [*served, *floors], floor_of


def verdicts(results: dict, floor_of: dict[str, str]) -> list[str]:
    def check(ok: bool, text: str) -> str:
        return f"- [{'x' if ok else ' '}] {text}"

    targets = {READ: 0.45, WRITE: 0.40, ME: 0.55}
    out = []
    for label, target in targets.items():
        ratio = floor_ratio(results[(label, 32)], results[(floor_of[label], 32)])
        out.append(check(ratio >= target, f"{label} >= {target} of its floor at 32 connections (here {ratio:.3f})"))
    for label in (READ, ME):
        p99 = median(results[(label, 32)], "p99_ms")
        out.append(check(p99 <= 50, f"{label} p99 <= 50 ms at 32 connections (here {p99:.1f})"))
    for label in floor_of:
        clean = sum(x.errors + x.timeouts + x.non_2xx for x in results[(label, 128)]) == 0
        out.append(check(clean, f"{label} at 128 connections: no errors, timeouts or non-2xx"))
    # Not targets: where the figures above come from.
    ceiling = floor_ratio(results[(NO_ORM, 32)], results[("floor: read", 32)])
    out.append(f"- The same read without the ORM, in the same Django stack: {ceiling:.3f} of the floor")
    orm_cpu, sql_cpu = median(results[(READ, 32)], "cpu_ms"), median(results[(NO_ORM, 32)], "cpu_ms")
    out.append(f"- Worker CPU per read: {orm_cpu:.2f} ms through the ORM, {sql_cpu:.2f} ms without")
    for ours, theirs in ((READ, "read"), (WRITE, "write"), (ME, "me")):
        ratio = floor_ratio(results[(ours, 32)], results[(SQLALCHEMY[theirs], 32)])
        out.append(f"- {ours}: {ratio:.2f}x the req/s of FastAPI + SQLAlchemy at 32 connections")
    return out


def main() -> None:
    args = arguments(__doc__)
    results: dict = {}
    servers: dict = {}
    with bench_database() as database:
        env = prepare(database)
        try:
            session, user_id = log_in(database, env)
            served, floor_of = targets(session, user_id)
            for _ in range(args.rounds):
                run_round(database, args.seconds, args.warmup, results, servers, targets=served, **env)
        finally:
            with database.connect("postgres") as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    text = table(results, servers, args.rounds, args.seconds, floor_of)
    publish("bench-orm", text + "\n\nTargets (the ORM-path issue):\n" + "\n".join(verdicts(results, floor_of)) + "\n")


if __name__ == "__main__":
    main()
