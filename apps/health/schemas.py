from typing import Literal

from ninja import Schema
from pydantic import Field

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
    server_version: str | None = Field(description="Staff only: null for other callers")
    latency_ms: float
    pool: PoolStats | None = Field(description="Staff only (and null without a pool)")


class DatabaseHealth(Schema):
    status: Literal["ok"]
    database: DatabaseInfo


CHECKS = 'Each check\'s outcome: "ok", else "failing" (staff: what is wrong)'


class Readiness(Schema):
    status: Literal["ok"]
    checks: dict[str, str] = Field(description=CHECKS)


class NotReadyProblem(Problem):
    checks: dict[str, str] = Field(description=CHECKS)
