"""The image's HEALTHCHECK: GET /api/health on this container's port, with a Host header the app
accepts (the first of ALLOWED_HOSTS). Exit 0 when it answers 200, else 1."""

import os
import sys
import urllib.request

port = os.environ.get("PORT", "8000")
host = (os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip().lstrip(".") or "localhost").replace("*", "x")
request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - a fixed http URL
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {error}", file=sys.stderr)  # noqa: T201
    sys.exit(1)
