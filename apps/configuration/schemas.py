from typing import Literal

from ninja import Schema

from apps.health.schemas import PoolStats


class Issue(Schema):
    id: str
    message: str
    hint: str


class Validation(Schema):
    valid: bool
    environment: str
    errors: list[Issue]
    warnings: list[Issue]


class DatabaseStatus(Schema):
    source: Literal["components", "url", "embedded"]
    host: str
    port: int | None
    name: str
    user: str
    sslmode: str
    password_set: bool
    pool: PoolStats | None
    connected: bool
    server_version: str | None


class ConnectionTest(Schema):
    ok: bool
    latency_ms: float | None
    server_version: str | None
    error: str | None
