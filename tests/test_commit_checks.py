"""The checks that guard a commit: uv.lock must match pyproject.toml (make lock-check, part of
make lint), and the pre-commit hooks refuse a commit that ruff or mypy would."""

import os
import re
import shutil
import subprocess

from tests.conftest import PROJECT_DIR

UNTYPED = "def add(a, b):\n    return a+b\n"
TYPED = "def add(a: int, b: int) -> int:\n    return a + b\n"


def run(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_lock_check_fails_when_the_lock_is_stale(tmp_path):
    for name in ("Makefile", "pyproject.toml", "uv.lock", ".python-version"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    uv = shutil.which("uv") or str(PROJECT_DIR / ".tools/bin/uv")
    assert run("make", "lock-check", f"UV={uv}", cwd=tmp_path).returncode == 0

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "whitenoise', '    "six>=1.16",\n    "whitenoise', 1))
    result = run("make", "lock-check", f"UV={uv}", cwd=tmp_path)
    assert result.returncode != 0
    assert "uv.lock` needs to be updated" in result.stderr


def test_pre_commit_hooks_refuse_what_make_lint_refuses(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT_DIR), str(clone)], check=True)
    (clone / ".venv").symlink_to(PROJECT_DIR / ".venv")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    installed = run(str(clone / ".venv/bin/pre-commit"), "install", cwd=clone, env=env)
    assert installed.returncode == 0, installed.stderr

    module = clone / "backend" / "arithmetic.py"
    module.write_text(UNTYPED)
    run("git", "add", "backend/arithmetic.py", cwd=clone)
    refused = run("git", "commit", "-qm", "untyped", cwd=clone, env=env)
    assert refused.returncode != 0
    report = refused.stdout + refused.stderr
    assert re.search(r"^ruff format --check\.+Failed$", report, re.MULTILINE)
    assert re.search(r"^mypy\.+Failed$", report, re.MULTILINE)
    assert "--> backend/arithmetic.py:2:13" in report  # a+b: ruff format would write a + b
    assert "backend/arithmetic.py:1: error: Function is missing a type annotation" in report

    module.write_text(TYPED)
    run("git", "add", "backend/arithmetic.py", cwd=clone)
    accepted = run("git", "commit", "-qm", "typed", cwd=clone, env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert run("git", "log", "-1", "--format=%s", cwd=clone).stdout.strip() == "typed"
