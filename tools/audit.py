"""`make audit`: pip-audit over the locked requirements, against the OSV advisory database.

pip-audit's table names each vulnerable package, its version, the advisory and the fixed
versions (exit 1). An advisory service that cannot be reached is one line and exit 69: no audit
is never reported as a clean one (``--unreachable warn`` prints the line and exits 0, for a
network known to have no route to the service).
"""

import argparse
import subprocess
import sys
from urllib.parse import urlsplit

DEFAULT_OSV_URL = "https://api.osv.dev/v1/query"
UNREACHABLE = 69  # sysexits.h's EX_UNAVAILABLE, as manage.py exits when the database is down
CAUSES = {
    "NameResolutionError": "the host name does not resolve",
    "Connection refused": "connection refused",
    "Timeout": "no answer in time",
    "Could not connect": "no connection",
    "ConnectionError": "no connection",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", help="a requirements file with hashes (uv export)")
    parser.add_argument("--osv-url", default=DEFAULT_OSV_URL)
    parser.add_argument("--unreachable", choices=["fail", "warn"], default="fail")
    args = parser.parse_args(argv)
    command = [
        sys.executable, "-m", "pip_audit",
        "--requirement", args.requirements, "--disable-pip", "--require-hashes",
        "--vulnerability-service", "osv", "--osv-url", args.osv_url,
        "--progress-spinner", "off", "--timeout", "15",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        print(result.stdout.strip() or "No known vulnerabilities found")
        return 0
    cause = next((text for marker, text in CAUSES.items() if marker in result.stderr), None)
    if cause is not None:
        host = urlsplit(args.osv_url).netloc
        level = "error" if args.unreachable == "fail" else "warning"
        print(f"{level}: the advisory service {host} cannot be reached ({cause}): nothing was audited", file=sys.stderr)
        return UNREACHABLE if args.unreachable == "fail" else 0
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
