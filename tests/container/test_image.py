"""The production image: the Dockerfile built on a Debian 13 base made here (debootstrap + podman
import: this machine reaches no image registry), run with podman against the test PostgreSQL in
production mode, secrets as files. `make test-container` (not part of `make test`)."""

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import FIGURES, PROJECT_DIR, free_port

pytestmark = pytest.mark.container

DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE = "localhost/backend-test-base:trixie"
IMAGE = "localhost/backend-test:latest"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
# This sandbox forbids raising rlimits, and has no systemd (healthcheck timers, cgroups, journald).
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
THROUGH_TLS = {"X-Forwarded-Proto": "https"}  # production redirects plain HTTP but for health checks


@dataclass
class Podman:
    """podman on storage of its own (removed at the end, with every image and container in it)."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
        command = ["podman", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run")]
        command += ["--runtime", "runc", *args]
        env = {**os.environ, "CONTAINERS_CONF": str(self.root / "containers.conf")}
        check = kwargs.pop("check", True)
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
        assert result.returncode == 0 or not check, f"podman {args[0]}: {result.stderr[-2000:]}"
        return result

    def timed(self, name: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = self(*args, **kwargs)
        self.timings[name] = time.monotonic() - started
        return result


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Iterator[Podman]:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"missing {' '.join(missing)}: run `make test-container` as root, or apt-get install {' '.join(missing)}"
        )
    root = tmp_path_factory.mktemp("podman")
    (root / "containers.conf").write_text(CONTAINERS_CONF)
    tool = Podman(root)
    try:
        yield tool
    finally:
        subprocess.run(
            ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"), "system", "reset", "--force"],
            env={**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")},
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
        FIGURES.extend(f"container: {name} {seconds:.1f} s" for name, seconds in tool.timings.items())


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory) -> str:
    """The project's image, built on a Debian 13 (trixie) base: Python 3.13 from Debian's packages."""
    rootfs = tmp_path_factory.mktemp("rootfs")
    debootstrap = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates"]
    started = time.monotonic()
    result = subprocess.run(
        [*debootstrap, "trixie", str(rootfs), DEBIAN_MIRROR], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"debootstrap failed: {result.stdout[-1500:]}{result.stderr[-1500:]}"
    podman.timings["debootstrap trixie"] = time.monotonic() - started
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    podman.timed("podman import", "import", "-", BASE, stdin=tar.stdout)
    assert tar.wait() == 0
    shutil.rmtree(rootfs)
    podman.timed(
        "podman build",
        "build",
        "--network=host",
        "--format=docker",  # HEALTHCHECK and STOPSIGNAL are Docker image settings, not OCI
        "--build-arg",
        f"BASE_IMAGE={BASE}",
        # The machine's CA bundle, for the build's downloads from PyPI.
        "--volume",
        f"{HOST_CA}:/run/host-ca.crt:ro",
        "--build-arg",
        "SSL_CERT_FILE=/run/host-ca.crt",
        "--build-arg",
        "PIP_CERT=/run/host-ca.crt",
        "--tag",
        IMAGE,
        str(PROJECT_DIR),
        timeout=1200,
    )
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    podman.timings[f"image size {size / 1e6:.0f} MB; built in"] = podman.timings.pop("podman build")
    return IMAGE


@pytest.fixture(scope="module")
def database(test_database_env) -> Iterator[dict[str, str]]:
    """A new, empty database on the test server, for the image's own migrate."""
    name = f"container_{os.getpid()}"
    admin = {
        "host": test_database_env["DB_HOST"],
        "port": test_database_env["DB_PORT"],
        "user": test_database_env["DB_USER"],
        "password": test_database_env["DB_PASSWORD"],
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**admin) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield {**test_database_env, "DB_NAME": name}
    with psycopg.connect(**admin) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Running:
    name: str
    url: str
    options: list[str]


@pytest.fixture(scope="module")
def web(podman, image, database, tmp_path_factory) -> Iterator[Running]:
    """The image's default command, in production, secrets as files; first 200 timed."""
    secrets_dir = tmp_path_factory.mktemp("secrets")
    (secrets_dir / "secret_key").write_text(secrets.token_urlsafe(64))
    (secrets_dir / "db_password").write_text(database["DB_PASSWORD"])
    for path in (secrets_dir, *secrets_dir.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the image's user is not root
    port = free_port()
    environment = {
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_HOST": database["DB_HOST"],
        "DB_PORT": database["DB_PORT"],
        "DB_NAME": database["DB_NAME"],
        "DB_USER": database["DB_USER"],
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
        "SECRET_KEY_FILE": "/run/secrets/secret_key",
        "METRICS_TOKEN": secrets.token_urlsafe(16),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    options = ["--network=host", "--volume", f"{secrets_dir}:/run/secrets:ro"]
    options += [item for name, value in environment.items() for item in ("--env", f"{name}={value}")]
    name = f"backend-web-{os.getpid()}"
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    podman("run", "--detach", "--name", name, *options, image)
    deadline = started + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == HTTPStatus.OK:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, podman("logs", name).stderr[-3000:]
        time.sleep(0.05)
    podman.timings["cold start to first 200"] = time.monotonic() - started
    yield Running(name, url, options)
    podman("rm", "--force", "--time", "0", name, check=False)


def test_production_serving_answers_health_and_the_database(web):
    health = httpx.get(f"{web.url}/api/health")
    assert health.status_code == HTTPStatus.OK
    assert health.json()["environment"] == "production"
    assert httpx.get(f"{web.url}/api/health/db").status_code == HTTPStatus.OK


def test_ready_after_the_migrate_one_off(podman, image, web):
    before = httpx.get(f"{web.url}/api/health/ready")
    assert before.status_code == HTTPStatus.SERVICE_UNAVAILABLE  # a new database: nothing applied
    assert before.json()["checks"]["migrations"] == "failing"
    podman.timed("migrate one-off", "run", "--rm", *web.options, image, "python", "manage.py", "migrate", "--no-input")
    assert httpx.get(f"{web.url}/api/health/ready").status_code == HTTPStatus.OK


def test_the_admin_css_built_into_the_image_is_served(web):
    page = httpx.get(f"{web.url}/admin/login/", headers=THROUGH_TLS)
    assert page.status_code == HTTPStatus.OK
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', page.text).group(1)  # hashed: manifest
    css = httpx.get(web.url + stylesheet, headers=THROUGH_TLS)
    assert css.status_code == HTTPStatus.OK
    assert css.headers["Content-Type"].startswith("text/css")
    assert "body" in css.text


def test_no_process_runs_as_root_and_worker_count_and_healthcheck_are_honoured(podman, web):
    processes = podman("top", web.name, "user", "args").stdout.splitlines()[1:]
    assert len([line for line in processes if "gunicorn" in line]) == 3  # the master and WEB_CONCURRENCY=2
    assert {line.split()[0] for line in processes} == {"app"}
    assert podman("exec", web.name, "python3", "-c", "import os; print(os.getuid())").stdout.strip() != "0"
    assert podman("healthcheck", "run", web.name, check=False).returncode == 0


def test_podman_stop_ends_it_gracefully(podman, web):
    started = time.monotonic()
    podman("stop", "--time", "30", web.name)  # gunicorn's graceful timeout is 30 s; then SIGKILL
    stopped_in = time.monotonic() - started
    podman.timings["graceful stop"] = stopped_in
    assert stopped_in < 30
    assert podman("inspect", "--format", "{{.State.ExitCode}}", web.name).stdout.strip() == "0"
    assert "Shutting down: Master" in podman("logs", web.name).stderr
