"""The uvicorn worker gunicorn runs: uvloop and httptools, and no lifespan (Django has none)."""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "off", "access_log": False}
