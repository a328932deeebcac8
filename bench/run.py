"""`make bench`: the app against two floors, served the same way (gunicorn, one uvicorn worker) on
the embedded PostgreSQL 18, loaded by wrk; rounds interleaved (app, floors, app, ...).

Prints a markdown table and writes it to .bench/ (git-ignored). A benchmark, not a test: it
reports the targets of the Speed section as met or not, and exits 0 either way.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

from backend.db.embedded import EmbeddedPostgres
from bench.serving import RESULTS_DIR, Load, bench_database, free_port, median, production_env, serve, wrk

CONNECTIONS = (32, 128)
METRICS_OFF = " (metrics off)"
TWO_WORKERS = " (2 workers)"
# (name, gunicorn app, [(label, path, floor label)], optional environment of that server)
TARGETS = [
    (
        "app",
        "config.asgi:application",
        [("/api/health", "/api/health", "json"), ("/api/health/db", "/api/health/db", "db")],
    ),
    # The same app without Prometheus metrics, right after it: what recording them costs.
    (
        "app, metrics off",
        "config.asgi:application",
        [
            (f"/api/health{METRICS_OFF}", "/api/health", "json"),
            (f"/api/health/db{METRICS_OFF}", "/api/health/db", "db"),
        ],
        {"METRICS_ENABLED": "false"},
    ),
    # Two workers on this machine's two cores, which wrk shares: what a second worker adds.
    (
        "app, 2 workers",
        "config.asgi:application",
        [
            (f"/api/health{TWO_WORKERS}", "/api/health", "json"),
            (f"/api/health/db{TWO_WORKERS}", "/api/health/db", "db"),
        ],
        {"WEB_CONCURRENCY": "2"},
    ),
    ("floor: fixed JSON", "bench.floors:fixed_json", [("json", "/", None)]),
    ("floor: SELECT 1 (psycopg async pool)", "bench.floors:select_one", [("db", "/", None)]),
]


# Each app endpoint's floor label, e.g. "/api/health" -> "json".
FLOOR_OF = {label: floor for _, _, endpoints, *_ in TARGETS for label, _, floor in endpoints if floor}


def run_round(
    database: EmbeddedPostgres,
    seconds: int,
    warmup: int,
    results: dict,
    servers: dict,
    *,
    targets: list = TARGETS,
    **env: str,
) -> None:
    """Each target served in turn, each of its endpoints loaded at each number of connections.
    An endpoint is (label, path, floor label) or (label, path, floor label, wrk options)."""
    for name, app, endpoints, *target_env in targets:
        server_env = production_env(database, free_port(), **env, **(target_env[0] if target_env else {}))
        server = serve(app, server_env, endpoints[0][1], RESULTS_DIR / "servers.log")
        servers.setdefault(name, {"cold_start_s": [], "rss_mib": []})["cold_start_s"].append(server.cold_start_s)
        try:
            for label, path, _, *options in endpoints:
                load = {**(options[0] if options else {})}
                for connections in CONNECTIONS:
                    wrk(server.url + path, connections, warmup, **load)
                    cpu_before = server.worker_cpu_s()
                    measured = wrk(server.url + path, connections, seconds, **load)
                    measured.cpu_ms = (server.worker_cpu_s() - cpu_before) * 1000 / max(measured.requests, 1)
                    results.setdefault((label, connections), []).append(measured)
            servers[name]["rss_mib"].append(server.worker_rss_mib())
        finally:
            server.stop()


def floor_ratio(loads: list[Load], floor_loads: list[Load]) -> float:
    """The median of the per-round ratios of req/s (each round's app against that round's floor)."""
    return statistics.median(a.requests_per_s / b.requests_per_s for a, b in zip(loads, floor_loads, strict=True))


def p50_growth(results: dict, label: str) -> float:
    return median(results[(label, 128)], "p50_ms") / median(results[(label, 32)], "p50_ms")


def report(results: dict, servers: dict, rounds: int, seconds: int) -> tuple[str, list[str]]:
    return table(results, servers, rounds, seconds, FLOOR_OF), verdicts(results, servers)


def table(results: dict, servers: dict, rounds: int, seconds: int, floor_of: dict[str, str]) -> str:
    lines = [
        f"Benchmark of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, {len(os.sched_getaffinity(0))} cores): one worker, "
        f"wrk -t2 for {seconds} s after a warm-up, {rounds} interleaved rounds, medians.",
        "",
        "| endpoint | conns | req/s | p50 ms | p99 ms | floor req/s | ratio to floor | worker CPU ms/request "
        "| errors | timeouts | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (label, connections), loads in results.items():
        floor_loads = results.get((floor_of.get(label), connections))
        cells = [label, connections, f"{median(loads, 'requests_per_s'):,.0f}"]
        cells += [f"{median(loads, 'p50_ms'):.1f}", f"{median(loads, 'p99_ms'):.1f}"]
        if floor_loads:
            cells += [f"{median(floor_loads, 'requests_per_s'):,.0f}", f"{floor_ratio(loads, floor_loads):.3f}"]
        else:
            cells += ["-", "-"]
        cells.append(f"{median(loads, 'cpu_ms'):.2f}")
        cells += [sum(x.errors for x in loads), sum(x.timeouts for x in loads), sum(x.non_2xx for x in loads)]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["", "| server | cold start s (median) | RSS per worker after load MiB (max) |", "| --- | ---: | ---: |"]
    for name, figures in servers.items():
        lines.append(f"| {name} | {statistics.median(figures['cold_start_s']):.2f} | {max(figures['rss_mib']):.0f} |")
    return "\n".join(lines)


def verdicts(results: dict, servers: dict) -> list[str]:
    def check(ok: bool, text: str) -> str:
        return f"- [{'x' if ok else ' '}] {text}"

    health, db = results[("/api/health", 32)], results[("/api/health/db", 32)]
    ratios = {label: floor_ratio(results[(label, 32)], results[(floor, 32)]) for label, floor in FLOOR_OF.items()}
    out = [
        check(median(health, "requests_per_s") >= 1000, "/api/health >= 1,000 req/s at 32 connections"),
        check(median(health, "p99_ms") <= 50, "/api/health p99 <= 50 ms"),
        check(ratios["/api/health"] >= 0.07, "/api/health >= 0.07 of its floor"),
        check(median(db, "requests_per_s") >= 600, "/api/health/db >= 600 req/s at 32 connections"),
        check(median(db, "p99_ms") <= 100, "/api/health/db p99 <= 100 ms"),
        check(ratios["/api/health/db"] >= 0.25, "/api/health/db >= 0.25 of its floor"),
    ]
    for label, floor in FLOOR_OF.items():
        clean = sum(x.errors + x.timeouts + x.non_2xx for x in results[(label, 128)]) == 0
        out.append(check(clean, f"{label} at 128 connections: no errors, timeouts or non-2xx"))
        # A saturated server's p50 is about connections / throughput (Little's law): 4x the
        # connections give 4x the p50 unless throughput rises. The floor's growth says what is possible.
        growth, floor_growth = p50_growth(results, label), p50_growth(results, floor)
        text = f"{label} p50 at 128 <= 4x p50 at 32 (here {growth:.2f}x; its floor {floor_growth:.2f}x)"
        out.append(check(growth <= 4, text))
    for label in ("/api/health", "/api/health/db"):
        ratio = floor_ratio(results[(label, 32)], results[(label + METRICS_OFF, 32)])
        text = f"{label} with metrics >= 0.95 of without, at 32 connections (here {ratio:.3f})"
        out.append(check(ratio >= 0.95, text))
    for label in ("/api/health", "/api/health/db"):
        ratio = floor_ratio(results[(label + TWO_WORKERS, 32)], results[(label, 32)])
        # wrk's two threads take a good part of the two cores: the ceiling is well under 2x.
        out.append(f"- {label}: 2 workers give {ratio:.2f}x the req/s of one at 32 connections (wrk shares the cores)")
    app = servers["app"]
    out.append(check(max(app["rss_mib"]) <= 120, "RSS per worker after load <= 120 MiB"))
    out.append(check(statistics.median(app["cold_start_s"]) <= 3, "cold start <= 3 s"))
    return out


def arguments(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    return parser.parse_args()


def publish(name: str, text: str) -> None:
    """Print the report and keep it in .bench/ (name-<time>.md and name-latest.md)."""
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"{name}-{stamp}.md").write_text(text)
    (RESULTS_DIR / f"{name}-latest.md").write_text(text)


def main() -> None:
    args = arguments(__doc__)
    results: dict = {}
    servers: dict = {}
    with bench_database() as database:
        for _ in range(args.rounds):
            run_round(database, args.seconds, args.warmup, results, servers)
    text, checks = report(results, servers, args.rounds, args.seconds)
    publish("bench", text + "\n\nTargets (Speed section of DESIGN.md):\n" + "\n".join(checks) + "\n")


if __name__ == "__main__":
    main()
