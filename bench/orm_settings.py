"""The project's settings serving bench/orm_app.py (`make bench-orm`)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.orm_app"

# The benchmark stands where a TLS proxy would (it sends X-Forwarded-Proto: https), but the server's
# start is probed over plain HTTP, as load balancers do /api/health.
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^bench/"]  # noqa: F405
