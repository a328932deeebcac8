"""`make django-tests`: Django's own tests for the parts of request handling this project replaces,
run with the project's classes in place of Django's.

The sdist of the locked Django (its version is read from the installed package) comes from PyPI
once and is kept in .django-tests/. Its tests/runtests.py runs the labels twice on the embedded
PostgreSQL 18: with Django's classes, then with the project's (backend/asgi_handler.py's Handler for
ASGIHandler, backend/async_middleware.py's middleware for Django's). The second run must fail no
test that the first passes. Exit 0 when it does not, 1 when it does (naming them), 69 when PyPI
cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import django

PROJECT_DIR = Path(__file__).resolve().parent.parent
CACHE = PROJECT_DIR / ".django-tests"
LABELS = [
    "asgi",
    "handlers",
    "csrf_tests",
    "sessions_tests",
    "messages_tests",
    "middleware",
    "auth_tests",
    "requests_tests",
    "async",
]
INDEX = "https://pypi.org/simple/django/"
UNREACHABLE = 69
# What the patched run prints once the project's classes are in place: a run without it tested
# Django's classes twice.
MARKER = "project classes in place of Django's"

SETTINGS = '''\
"""Django's test settings (test_sqlite.py) on the embedded PostgreSQL: written by tools/django_tests.py."""

import os

_database = {{
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1",
    "PORT": {port},
    "USER": "postgres",
    "PASSWORD": {password!r},
}}
DATABASES = {{
    "default": {{**_database, "NAME": "django_tests"}},
    "other": {{**_database, "NAME": "django_tests_other"}},
}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = False
# What backend.asgi_handler.Handler reads (the project's settings.py sets it).
REQUEST_BODY_MAX_BYTES = 10 * 1024 * 1024

if os.environ.get("PROJECT_CLASSES"):
    import project_classes  # noqa: F401 - puts the project's classes in place of Django's
'''

PATCHES = '''\
"""The project's classes in place of Django's, in the modules Django's tests import them from,
once the apps are loaded (the middleware modules import models)."""

import sys

from django.apps import apps

MARKER = {marker!r}
_populate = apps.populate


def _swap_classes():
    import django.contrib.auth.middleware
    import django.contrib.messages.middleware
    import django.contrib.sessions.middleware
    import django.core.asgi
    import django.core.handlers.asgi
    import django.middleware.clickjacking
    import django.middleware.common
    import django.middleware.csrf
    import django.middleware.security

    from backend import async_middleware
    from backend.asgi_handler import Handler

    django.core.handlers.asgi.ASGIHandler = Handler
    django.core.asgi.ASGIHandler = Handler
    django.middleware.security.SecurityMiddleware = async_middleware.SecurityMiddleware
    django.middleware.clickjacking.XFrameOptionsMiddleware = async_middleware.XFrameOptionsMiddleware
    django.middleware.common.CommonMiddleware = async_middleware.CommonMiddleware
    django.middleware.csrf.CsrfViewMiddleware = async_middleware.CsrfViewMiddleware
    django.contrib.sessions.middleware.SessionMiddleware = async_middleware.SessionMiddleware
    django.contrib.auth.middleware.AuthenticationMiddleware = async_middleware.AuthenticationMiddleware
    django.contrib.messages.middleware.MessageMiddleware = async_middleware.MessageMiddleware
    print(MARKER, file=sys.stderr)


def populate(installed_apps=None):
    _populate(installed_apps)
    _swap_classes()


apps.populate = populate
'''


def django_tests_dir() -> Path:
    """Django's tests/ for the installed version, from its sdist on PyPI (cached)."""
    version = django.__version__
    tests = CACHE / f"django-{version}" / "tests"
    if (tests / "runtests.py").is_file():
        return tests
    CACHE.mkdir(exist_ok=True)
    archive = CACHE / f"django-{version}.tar.gz"
    try:
        request = urllib.request.Request(INDEX, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a fixed https URL
            files = json.load(response)["files"]
        url = next(file["url"] for file in files if file["filename"] == f"django-{version}.tar.gz")
        urllib.request.urlretrieve(url, archive)  # noqa: S310 - PyPI's file host, from its index
    except OSError as error:
        sys.exit(print(f"django-tests: cannot download Django {version} from PyPI ({error})") or UNREACHABLE)
    with tarfile.open(archive) as sdist:
        members = [m for m in sdist.getmembers() if m.name.startswith(f"django-{version}/tests/")]
        sdist.extractall(CACHE, members=members, filter="data")
    archive.unlink()
    return tests


def run(tests: Path, labels: list[str], project_classes: bool) -> tuple[set[str], str]:
    """Run runtests.py; the ids of the tests that failed or errored, and the summary line."""
    env = {**os.environ, "PYTHONPATH": f"{tests}:{PROJECT_DIR}", "PROJECT_CLASSES": "1" if project_classes else ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "runtests.py", "--settings=project_settings", "--noinput", "--parallel=2", *labels],
        cwd=tests,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if project_classes and MARKER not in output:
        sys.exit(f"django-tests: the project's classes were not put in place:\n{output[-2000:]}")
    failed = set(re.findall(r"^(?:FAIL|ERROR): (\S+ \(\S+\))", output, re.MULTILINE))
    summary = next((line for line in reversed(output.splitlines()) if re.match(r"(OK|FAILED)\b", line)), "no summary")
    ran = re.search(r"^Ran \d+ tests? in \S+", output, re.MULTILINE)
    return failed, f"{ran.group(0) if ran else 'did not run'}: {summary}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labels", nargs="*", default=list(LABELS))
    args = parser.parse_args()
    from backend.db.embedded import EmbeddedPostgres  # noqa: PLC0415 - after the argument check

    tests = django_tests_dir()
    database = EmbeddedPostgres.for_project()
    database.ensure_running()
    try:
        (tests / "project_settings.py").write_text(SETTINGS.format(port=database.port, password=database.password))
        (tests / "project_classes.py").write_text(PATCHES.format(marker=MARKER))
        baseline, baseline_summary = run(tests, args.labels, project_classes=False)
        print(f"Django {django.__version__}, its classes:   {baseline_summary}")
        ours, ours_summary = run(tests, args.labels, project_classes=True)
        print(f"Django {django.__version__}, the project's: {ours_summary}")
    finally:
        database.stop_if_unused()  # if this run started it
    broken = sorted(ours - baseline)
    for test in broken:
        print(f"fails with the project's classes only: {test}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
