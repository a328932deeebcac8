"""`make bench-faults`: the embedded PostgreSQL is stopped and restarted while wrk loads
/api/health/db. Every response must be 200 or 503 (never 500), the worker must live through it,
and 200s must return within 2 s of the database being back. Prints the counts; exits 1 on a miss.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time

import httpx

from backend.db.embedded import EmbeddedPostgres
from bench.serving import RESULTS_DIR, bench_database, free_port, production_env, serve, wrk

LOAD_SECONDS = 16
STOP_AT, START_AT = 4.0, 8.0


def main() -> None:
    with bench_database() as database:
        statuses, timeline, same_worker = outage_under_load(database)
    recovery = timeline.get("first_200_after_back", float("inf")) - timeline["back"]
    checks = {
        "only 200 and 503": set(statuses) <= {200, 503},
        "some 503 while the database was down": statuses[503] > 0,
        "the worker lived through it (same pid)": same_worker,
        "200 again within 2 s of the database being back": recovery <= 2.0,
    }
    print(f"responses by status: {dict(sorted(statuses.items()))}")
    print(
        f"database stopped at {timeline['stopped']:.1f} s, back at {timeline['back']:.1f} s;"
        f" first 200 {recovery:.2f} s later"
    )
    load_result = timeline["wrk"]
    print(f"wrk: {load_result.requests_per_s:,.0f} req/s, errors {load_result.errors}, timeouts {load_result.timeouts}")
    for text, ok in checks.items():
        print(f"- [{'x' if ok else ' '}] {text}")
    sys.exit(0 if all(checks.values()) else 1)


def outage_under_load(database: EmbeddedPostgres) -> tuple[collections.Counter, dict, bool]:
    """Serve, load, stop and restart the database; the statuses served, the timeline, same worker or not."""
    access_log = RESULTS_DIR / "faults-server.log"
    access_log.write_text("")
    server = serve("config.asgi:application", production_env(database, free_port()), "/api/health/db", access_log)
    workers_before = server.worker_pids()
    timeline: dict = {}
    load = threading.Thread(
        target=lambda: timeline.setdefault("wrk", wrk(server.url + "/api/health/db", 32, LOAD_SECONDS))
    )
    try:
        began = time.monotonic()
        load.start()
        time.sleep(STOP_AT)
        database.stop()
        timeline["stopped"] = time.monotonic() - began
        time.sleep(START_AT - STOP_AT)
        database.ensure_running()
        timeline["back"] = time.monotonic() - began
        while time.monotonic() - began < LOAD_SECONDS:
            if httpx.get(server.url + "/api/health/db", timeout=5).status_code == 200:
                timeline.setdefault("first_200_after_back", time.monotonic() - began)
            time.sleep(0.05)
        load.join()
        workers_after = server.worker_pids()
    finally:
        server.stop()

    statuses = collections.Counter()
    for line in access_log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "backend.access" and entry.get("path") == "/api/health/db":
                statuses[entry["status"]] += 1
    return statuses, timeline, workers_before == workers_after


if __name__ == "__main__":
    main()
