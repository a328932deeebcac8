"""/metrics of `make serve` in production with two workers: one scrape sees both, parsed with
prometheus_client's own parser, and nobody without the token or a staff session reads it."""

import secrets
import subprocess
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.test_serving import _children, serving

TOKEN = secrets.token_urlsafe(32)
POOL_MAX = 4
WORKERS = 2
# Production redirects plain HTTP to HTTPS; a TLS proxy in front says the request came over HTTPS.
THROUGH_TLS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def served(test_database_env, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier server")  # must be wiped at start
    env = {
        **test_database_env,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DB_POOL_MAX_SIZE": str(POOL_MAX),
        "WEB_CONCURRENCY": str(WORKERS),
        "LOG_LEVEL": "warning",
    }
    with serving(env) as (process, url):
        yield process, url, metrics_dir


def workers_of(process: subprocess.Popen) -> list[int]:
    (master,) = _children(process.pid)
    return _children(master)


def get(url: str) -> int:
    # A client per request: a new connection each time, so the workers share the load.
    return httpx.get(url, headers=THROUGH_TLS, timeout=30).status_code


def test_one_scrape_counts_every_workers_requests(served):
    process, url, metrics_dir = served
    assert not (metrics_dir / "counter_1.db").exists()
    user_ids = [str(uuid.uuid4()) for _ in range(40)]
    paths = [f"/api/test/users/{user_id}" for user_id in user_ids] + ["/api/test/orm-async"] * 40 + ["/api/health"] * 40
    sent: Counter = Counter()
    workers = workers_of(process)
    assert len(workers) == WORKERS
    # prometheus_client names each worker's file after its pid: both must have counted requests.
    with ThreadPoolExecutor(16) as pool:
        for _ in range(20):
            for path, status in zip(paths, pool.map(get, [url + path for path in paths]), strict=True):
                sent[(path.rsplit("/", 1)[0] if "/users/" in path else path, status)] += 1
            if all((metrics_dir / f"counter_{pid}.db").exists() for pid in workers):
                break
    assert all((metrics_dir / f"counter_{pid}.db").exists() for pid in workers), "one worker served nothing"
    assert get(url + "/api/health/ready") == HTTPStatus.OK

    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == HTTPStatus.OK
    families = {family.name: family for family in text_string_to_metric_families(response.text)}

    counted = {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for sample in families["http_request_duration_seconds"].samples
        if sample.name == "http_request_duration_seconds_count"
    }
    assert counted[("/api/test/users/{user_id}", "4xx")] == sent[("/api/test/users", HTTPStatus.NOT_FOUND)]
    assert counted[("/api/test/orm-async", "2xx")] == sent[("/api/test/orm-async", HTTPStatus.OK)]
    assert counted[("/api/health", "2xx")] == sent[("/api/health", HTTPStatus.OK)] + 1  # + the fixture's wait
    assert not any(user_id in response.text for user_id in user_ids)
    problems = {sample.labels["type"]: sample.value for sample in families["http_problems"].samples}
    assert problems["/problems/not-found"] == sent[("/api/test/users", HTTPStatus.NOT_FOUND)]

    pool = {sample.labels["state"]: sample.value for sample in families["db_pool_connections"].samples}
    assert pool["max"] == WORKERS * POOL_MAX  # each worker's gauge, summed
    assert 1 <= pool["size"] <= WORKERS * POOL_MAX
    assert pool["in_use"] >= 0
    assert pool["waiting"] == 0
    assert families["app_ready"].samples[0].value == 1
    # Nothing else is in flight but this scrape: the other worker said so when it went idle.
    assert families["http_requests_in_flight"].samples[0].value == 1
    assert families["db_health_probe_duration_seconds"].samples  # the readiness check's round trip


def test_production_metrics_are_refused_without_the_token(served):
    _, url, _ = served
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.get(f"{url}/metrics", headers=headers)
        assert response.status_code == HTTPStatus.UNAUTHORIZED, headers
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "http_request" not in response.text
