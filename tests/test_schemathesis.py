"""Property-based fuzzing of the live API from its own schema, with schemathesis's every phase
(examples, coverage, fuzzing, stateful) and every check, as an anonymous caller and as a staff
session with a valid CSRF token: no 500, every response what the schema declares, every
schema-violating request refused, authentication never ignored."""

import subprocess
import sys

import pytest

PHASES = "examples,coverage,fuzzing,stateful"


def schemathesis(url: str, config: str, tmp_path, *options: str) -> subprocess.CompletedProcess:
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "run"),
        *("--phases", PHASES, "--checks", "all", "--max-examples", "30", "--seed", "20261123"),
        *("--no-color", "--request-timeout", "10", *options, f"{url}/api/openapi.json"),
    ]
    # In the test's folder: schemathesis keeps a cache (.schemathesis/) where it runs.
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)


def assert_clean(result: subprocess.CompletedProcess) -> str:
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert " passed" in report, report
    return report


def test_anonymous(live_server_url, tmp_path):
    assert_clean(schemathesis(live_server_url, "", tmp_path))


@pytest.mark.django_db(transaction=True)
def test_staff_session_with_csrf_token(live_server_url, live_staff, tmp_path):
    session, token = live_staff.client.cookies["sessionid"], live_staff.csrf_token
    auth = "".join(
        f'[auth.openapi.{scheme}]\napi_key = "{value}"\n'
        for scheme, value in {
            "StaffSession": session,
            "UserSession": session,
            "CSRFToken": token,
            "CSRFCookie": token,
        }.items()
    )
    # Logging out would end the session the rest of the run uses (tests/accounts tests it).
    report = assert_clean(schemathesis(live_server_url, auth, tmp_path, "--exclude-operation-id", "logout"))
    assert "Authentication failed" not in report, report  # the session and token were used
