from http import HTTPStatus

from django.conf import settings

from backend.version import VERSION


def test_liveness_answers_ok_without_caching_or_database(client):
    # No django_db mark: pytest-django refuses any query here, so a 200 proves none was made.
    response = client.get("/api/health")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == VERSION
    assert body["environment"] == settings.APP_ENV == "test"
    assert body["uptime_seconds"] >= 0
    assert response["Cache-Control"] == "no-store"
