"""The uvicorn worker gunicorn runs: httptools, and no lifespan (Django has none).

The asyncio loop, not uvloop: measured here with 128 connections on a saturated worker, uvloop
starved some connections for seconds (wrk timeouts, p99 > 1 s) where asyncio served them all
(p99 ~ 0.3 s) at the same throughput; see README, "Speed".
"""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no types
    CONFIG_KWARGS = {"loop": "asyncio", "http": "httptools", "lifespan": "off", "access_log": False}
