"""gunicorn settings for `make serve`: uvicorn workers, graceful shutdown, pools closed on exit."""

import os
import shutil
import tempfile
from pathlib import Path

from backend.env import Env

env = Env()
bind = f"{env.text('HOST', '127.0.0.1')}:{env.integer('PORT', 8000, minimum=1, maximum=65535)}"
workers = env.integer("WEB_CONCURRENCY", 1, minimum=1, maximum=64)  # as settings.WEB_CONCURRENCY
worker_class = "backend.server.Worker"
# Requests in flight get this long to finish after SIGTERM; then the worker is killed.
graceful_timeout = 30
timeout = 60
keepalive = 5
# The project's middleware writes the access log (with request ids); gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = env.text("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 25+'s control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl), which every
# server of that user would share, and a container's user has no home: signals do the same job.
control_socket_disable = True
METRICS_ENABLED = env.boolean("METRICS_ENABLED", True)  # not a gunicorn setting: read by the hooks below


# gunicorn ships no types: its arbiter and worker are plain objects here.
def on_starting(server: object) -> None:
    # Check production settings in the master, before any worker: a refused start exits at once
    # (a worker that exits is restarted by gunicorn, forever).
    import django  # noqa: PLC0415

    from backend.checks import guard_production  # noqa: PLC0415
    from backend.errors import exit_on_startup_error  # noqa: PLC0415

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    prepare_metrics_dir()
    with exit_on_startup_error():
        django.setup()
        guard_production()
    warn_connection_budget()


_made_metrics_dir: list[Path] = []  # removed when the server exits


def prepare_metrics_dir() -> None:
    """Prometheus multiprocess mode (backend/metrics.py): each worker writes its values to files in
    PROMETHEUS_MULTIPROC_DIR, a scrape of any worker reads them all. Set before any worker starts
    (prometheus_client reads it at import); a folder of this server's own unless set, and emptied
    of values either way: those left by an earlier server would be counted again."""
    if not METRICS_ENABLED:
        return
    given = env.text("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given or tempfile.mkdtemp(prefix="backend-metrics-"))
    if given:
        folder.mkdir(parents=True, exist_ok=True)
        for values in folder.glob("*.db"):  # prometheus_client's files only: the folder may hold others
            values.unlink()
    else:
        _made_metrics_dir.append(folder)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def child_exit(server: object, worker: object) -> None:
    # A dead worker's in-flight and pool gauges leave the sums; its counters stay (they were served).
    if METRICS_ENABLED:
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]


def on_exit(server: object) -> None:
    for folder in _made_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)


def warn_connection_budget() -> None:
    # Before the workers open their pools: say so if they could take more connections than the
    # server allows (nothing when it cannot be asked; the readiness check says why).
    import logging  # noqa: PLC0415

    from backend.db.budget import budget_issues_before_fork  # noqa: PLC0415

    for issue in budget_issues_before_fork():
        logging.getLogger("gunicorn.error").warning("%s: %s HINT: %s", issue.id, issue.msg, issue.hint)


def worker_exit(server: object, worker: object) -> None:
    # Django's ASGI handler has no lifespan: close the connection pools here so the server sees
    # the connections go at once, not when they time out.
    from backend.db.pools import close_pools  # noqa: PLC0415 - Django is set up by then

    close_pools()


def post_worker_init(worker: object) -> None:
    # Objects loaded at start-up (Django, the URL map, schemas) never die: keep the collector off
    # them, and collect the young generation less often (measured: p99 ~40 ms without the freeze,
    # ~14 ms with default thresholds, ~10 ms with these).
    import gc  # noqa: PLC0415

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
