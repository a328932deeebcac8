"""Startup failures a person can act on: one line on stderr and a non-zero exit, no traceback."""

import asyncio
import contextlib
import sys
from collections.abc import Iterator

from django.db import InterfaceError, OperationalError

from backend.db.embedded import EmbeddedDatabaseError
from backend.env import EnvError

# sysexits.h's EX_UNAVAILABLE: `make serve` tells "the database is down" from other failures by it.
DATABASE_UNREACHABLE = 69


@contextlib.contextmanager
def exit_on_startup_error() -> Iterator[None]:
    try:
        yield
    except (EnvError, EmbeddedDatabaseError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - the process is about to exit
        sys.exit(1)
    except (OperationalError, InterfaceError):
        if "--traceback" in sys.argv:
            raise
        print(f"error: {database_unreachable()} (--traceback shows where)", file=sys.stderr)  # noqa: T201
        sys.exit(DATABASE_UNREACHABLE)


def database_unreachable(alias: str = "default") -> str:
    """One line naming host, port and why the database cannot be reached; never the password."""
    from django.conf import settings  # noqa: PLC0415 - settings are loaded by the time this runs
    from django.db import connections  # noqa: PLC0415

    from backend.db.probe import DatabaseProbe, ProbeFailure  # noqa: PLC0415

    params = connections[alias].get_connection_params()
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"

    async def diagnose() -> str:
        probe = DatabaseProbe(alias=alias)
        try:
            await probe.ping(settings.DB_CONNECT_TIMEOUT)
        except ProbeFailure as failure:
            return failure.detail
        finally:
            probe.discard()
        return "it answers now, but did not when the command ran"

    return f"cannot reach the database at {where}: {asyncio.run(diagnose())}"
