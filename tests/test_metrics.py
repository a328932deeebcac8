"""Prometheus metrics in one process: what each request records, and who may read /metrics.
Across gunicorn workers: tests/test_metrics_served.py."""

import asyncio
import json
import subprocess
import sys
import uuid
from http import HTTPStatus

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PROJECT_DIR

TOKEN = "metrics-token-for-tests-0123456789"  # test-only


def requests_counted(route: str, status: str, method: str = "GET") -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


def problems_counted(kind: str) -> float:
    return REGISTRY.get_sample_value("http_problems_total", {"type": f"/problems/{kind}"}) or 0.0


def scrape(client: Client, **headers: str) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


@pytest.mark.urls("tests.serving.urls")
@pytest.mark.django_db
def test_requests_are_counted_by_route_template_never_by_the_raw_path(client):
    route = "/api/test/users/{user_id}"
    before, problems_before = requests_counted(route, "4xx"), problems_counted("not-found")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for user_id in ids:
        assert client.get(f"/api/test/users/{user_id}").status_code == HTTPStatus.NOT_FOUND
    assert requests_counted(route, "4xx") == before + 3
    assert problems_counted("not-found") == problems_before + 3
    text = scrape(client)
    assert not any(user_id in text for user_id in ids)


def test_unknown_paths_and_methods_share_one_label(client):
    path, method = f"/api/no-such-{uuid.uuid4().hex}", "BREW"
    before = requests_counted("<unmatched>", "4xx", method="other")
    assert client.generic(method, path).status_code == HTTPStatus.NOT_FOUND
    assert requests_counted("<unmatched>", "4xx", method="other") == before + 1
    text = scrape(client)
    assert path not in text
    assert method not in text


def test_the_scrape_parses_and_holds_every_family(client):
    client.get("/api/health")
    families = {family.name: family for family in text_string_to_metric_families(scrape(client))}
    for name in (
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "http_problems",
        "db_pool_connections",
        "db_health_probe_duration_seconds",
        "app_ready",
        "app_info",
        "process_resident_memory_bytes",  # the standard collectors, in one process
        "python_gc_objects_collected",
    ):
        assert name in families, name
    states = {sample.labels["state"] for sample in families["db_pool_connections"].samples}
    assert states == {"size", "in_use", "waiting", "max"}


async def in_flight(asgi_client) -> float:
    """The gauge as a scrape sees it (the scrape counts itself)."""
    text = (await asgi_client.get("/metrics")).text
    (family,) = [family for family in text_string_to_metric_families(text) if family.name == "http_requests_in_flight"]
    return family.samples[0].value


@pytest.mark.django_db(transaction=True)
async def test_a_request_in_flight_is_counted_until_it_ends(asgi_client, settings):
    settings.ROOT_URLCONF = "tests.serving.urls"
    idle = await in_flight(asgi_client)
    slow = asyncio.create_task(asgi_client.get("/test/slow", params={"seconds": "1"}))
    for _ in range(50):
        await asyncio.sleep(0.02)
        if await in_flight(asgi_client) == idle + 1:
            break
    assert await in_flight(asgi_client) == idle + 1
    assert (await slow).status_code == HTTPStatus.OK
    assert await in_flight(asgi_client) == idle


@pytest.mark.django_db
async def test_the_probe_and_readiness_are_recorded(async_client):
    probes = REGISTRY.get_sample_value("db_health_probe_duration_seconds_count") or 0
    assert (await async_client.get("/api/health/db")).status_code == HTTPStatus.OK
    assert REGISTRY.get_sample_value("db_health_probe_duration_seconds_count") == probes + 1
    assert (await async_client.get("/api/health/ready")).status_code == HTTPStatus.OK
    assert REGISTRY.get_sample_value("app_ready") == 1


@pytest.fixture
def protected(settings):
    settings.METRICS_PROTECTED, settings.METRICS_TOKEN = True, TOKEN


@pytest.mark.django_db
@pytest.mark.usefixtures("protected")
def test_protected_metrics_refuse_anonymous_callers_and_wrong_tokens(client):
    for headers, detail in (
        ({}, "Metrics need Authorization: Bearer <METRICS_TOKEN>, or a staff session"),
        ({"Authorization": "Bearer not-the-token"}, "The metrics token is not valid"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "The metrics token is not valid"),
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith('Bearer realm="metrics"')
        assert json.loads(response.content)["detail"] == detail


@pytest.mark.django_db
@pytest.mark.usefixtures("protected")
def test_protected_metrics_answer_the_token_and_staff_only(client, django_user_model):
    scrape(client, Authorization=f"Bearer {TOKEN}")
    client.force_login(django_user_model.objects.create(username="plain"))
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert json.loads(response.content)["type"] == "/problems/forbidden"
    client.force_login(django_user_model.objects.create(username="staff", is_staff=True))
    scrape(client)


def test_metrics_turned_off_record_nothing_and_serve_nothing():
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings; from django.test import Client\n"
        "print(Client().get('/metrics').status_code, any('metrics' in m for m in settings.MIDDLEWARE))\n"
    )
    env = {"APP_ENV": "test", "METRICS_ENABLED": "false", "DJANGO_SETTINGS_MODULE": "config.settings", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["404", "False"], result.stderr
