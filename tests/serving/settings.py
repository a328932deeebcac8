"""The project's settings plus a slow view, for serving tests (`make serve` in a subprocess)."""

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.serving.urls"
# Each test server's own name, to find its connections (tests/test_serving.py, serving_connections).
DATABASES["default"]["OPTIONS"]["application_name"] = os.environ.get("SERVING_TEST_NAME", "serving-test")  # noqa: F405
