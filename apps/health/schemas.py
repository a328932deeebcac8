from typing import Literal

from ninja import Schema


class Liveness(Schema):
    status: Literal["ok"]
    version: str
    environment: str
    uptime_seconds: float
