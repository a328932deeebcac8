from typing import Literal

from ninja import Schema

from backend.problems import Problem


class Liveness(Schema):
    status: Literal["ok"]
    version: str
    environment: str
    uptime_seconds: float


class PoolStats(Schema):
    min_size: int
    max_size: int
    size: int
    available: int
    waiting: int


class DatabaseInfo(Schema):
    vendor: str
    server_version: str
    latency_ms: float
    pool: PoolStats | None


class DatabaseHealth(Schema):
    status: Literal["ok"]
    database: DatabaseInfo


class Readiness(Schema):
    status: Literal["ok"]
    checks: dict[str, str]


class NotReadyProblem(Problem):
    checks: dict[str, str]
