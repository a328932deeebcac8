"""Startup failures a person can act on: one line on stderr and a non-zero exit, no traceback."""

import contextlib
import sys

from backend.db.embedded import EmbeddedDatabaseError
from backend.env import EnvError


@contextlib.contextmanager
def exit_on_startup_error():
    try:
        yield
    except (EnvError, EmbeddedDatabaseError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - the process is about to exit
        sys.exit(1)
