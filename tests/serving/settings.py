"""The project's settings plus a slow view, for serving tests (`make serve` in a subprocess)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.serving.urls"
DATABASES["default"]["OPTIONS"]["application_name"] = "serving-test"  # noqa: F405 - to find its connections
