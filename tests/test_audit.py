"""`make audit` against an OSV advisory service the test runs: a clean lock passes, a known
vulnerability fails naming the package, the advisory and the fixed version, and a service that
cannot be reached is one line and a failure, never a pass."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, free_port

# The advisory OSV publishes for CVE-2023-31047 (Django's multiple-file upload validation), as the
# OSV API returns it, trimmed to the fields pip-audit reads.
DJANGO_ADVISORY = {
    "id": "GHSA-r3xc-prgr-mg9p",
    "aliases": ["CVE-2023-31047"],
    "summary": "Django bypasses validation when using one form field to upload multiple files",
    "affected": [
        {
            "package": {"name": "django", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "4.2a1"}, {"fixed": "4.2.1"}]}],
        }
    ],
}
FAKE_HASH = "--hash=sha256:" + "0" * 64  # pip-audit needs hashes present; it downloads nothing


class OSV(BaseHTTPRequestHandler):
    """POST /v1/query as api.osv.dev answers it; records every query."""

    queries: list[dict]

    def do_POST(self):
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.queries.append(query)
        known = query["package"]["name"] == "django" and query["version"] == "4.2.0"
        body = json.dumps({"vulns": [DJANGO_ADVISORY]} if known else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def osv():
    handler = type("Handler", (OSV,), {"queries": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/query", handler.queries
    finally:
        server.shutdown()
        server.server_close()


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False)


def audit(requirements: Path, osv_url: str) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "tools.audit", "--osv-url", osv_url, str(requirements))


def make_audit(*variables: str) -> subprocess.CompletedProcess:
    return run("make", "--no-print-directory", "audit", *variables)


def test_make_audit_checks_every_locked_package(osv):
    url, queries = osv
    result = make_audit(f"AUDIT_OSV_URL={url}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No known vulnerabilities found" in result.stdout
    asked = {(query["package"]["name"], query["version"]) for query in queries}
    locked = (PROJECT_DIR / "uv.lock").read_text()
    django_version = locked.split('name = "django"\nversion = "', 1)[1].split('"', 1)[0]
    assert ("django", django_version) in asked
    assert {"psycopg", "django-ninja", "pytest", "mypy"} <= {name for name, _ in asked}  # runtime and dev groups


def test_a_known_vulnerability_fails_naming_advisory_and_fix(osv, tmp_path):
    url, _ = osv
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"django==4.2.0 {FAKE_HASH}\nsqlparse==0.5.0 {FAKE_HASH}\n")
    result = audit(requirements, url)
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("django "))
    assert row.split() == ["django", "4.2.0", "CVE-2023-31047", "4.2.1"]  # pip-audit shows the CVE alias
    assert "sqlparse" not in result.stdout


def test_an_unreachable_advisory_service_fails_in_one_line(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"django==4.2.0 {FAKE_HASH}\n")
    port = free_port()
    result = audit(requirements, f"http://127.0.0.1:{port}/v1/query")
    assert result.returncode == 69
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: the advisory service 127.0.0.1:{port} cannot be reached (connection refused): nothing was audited"
    ]


def test_make_audit_unreachable_fails_unless_told_to_warn():
    url = f"http://127.0.0.1:{free_port()}/v1/query"
    refused = make_audit(f"AUDIT_OSV_URL={url}")
    assert refused.returncode != 0
    assert "error: the advisory service 127.0.0.1:" in refused.stderr
    warned = make_audit(f"AUDIT_OSV_URL={url}", "AUDIT_UNREACHABLE=warn")
    assert warned.returncode == 0
    assert "warning: the advisory service 127.0.0.1:" in warned.stderr
    assert "No known vulnerabilities" not in warned.stdout
