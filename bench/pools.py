"""`make bench-pools`: /api/health/db's round trip through Django's pool, psycopg
AsyncConnectionPools of a few sizes, and the health checks' one dedicated connection; one worker
served the production way, wrk at 32 and 128 connections, rounds interleaved, medians.

Prints a markdown table and writes it to .bench/pools-latest.md. A benchmark, not a test.
"""

import argparse

from bench.serving import RESULTS_DIR, bench_database, free_port, median, production_env, serve, wrk

VARIANTS = [
    ("Django's pool (query in a thread)", "django-pool"),
    ("psycopg AsyncConnectionPool, max 1", "async-pool?max=1"),
    ("psycopg AsyncConnectionPool, max 4", "async-pool?max=4"),
    ("psycopg AsyncConnectionPool, max 10 (DB_POOL_MAX_SIZE)", "async-pool?max=10"),
    ("one dedicated async connection (shipped)", "dedicated"),
]
CONNECTIONS = (32, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    results: dict = {}
    with bench_database() as database:
        for _ in range(args.rounds):
            env = production_env(database, free_port(), DJANGO_SETTINGS_MODULE="bench.settings")
            server = serve("config.asgi:application", env, "/api/health/db/dedicated", RESULTS_DIR / "servers.log")
            try:
                for _, variant in VARIANTS:
                    for connections in CONNECTIONS:
                        url = f"{server.url}/api/health/db/{variant}"
                        wrk(url, connections, 2)
                        results.setdefault((variant, connections), []).append(wrk(url, connections, args.seconds))
            finally:
                server.stop()
    lines = [
        f"/api/health/db's round trip, one worker, wrk {args.seconds} s, {args.rounds} rounds, medians.",
        "",
        "| round trip through | conns | req/s | p50 ms | p99 ms | errors + timeouts |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, variant in VARIANTS:
        for connections in CONNECTIONS:
            loads = results[(variant, connections)]
            rate, p50, p99 = (median(loads, field) for field in ("requests_per_s", "p50_ms", "p99_ms"))
            failed = sum(x.errors + x.timeouts + x.non_2xx for x in loads)
            lines.append(f"| {label} | {connections} | {rate:,.0f} | {p50:.1f} | {p99:.1f} | {failed} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS_DIR / "pools-latest.md").write_text(text)


if __name__ == "__main__":
    main()
