"""Login throttling: failed attempts counted per client address and per username in the database
(every worker and host shares the counts), in a fixed window that starts at the first failure.

Only failures count; a successful login clears its address's and username's counts. The database's
clock is the one clock, so hosts whose clocks drift still agree."""

import hashlib
import math

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from apps.accounts.models import LoginFailures

TABLE = LoginFailures._meta.db_table

RECORD_FAILURE = f"""
    INSERT INTO {TABLE} AS f (key, window_started_at, failures) VALUES (%(key)s, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.window_started_at > now() - make_interval(secs => %(window)s)
            THEN f.failures + 1 ELSE 1 END,
        window_started_at = CASE WHEN f.window_started_at > now() - make_interval(secs => %(window)s)
            THEN f.window_started_at ELSE now() END
"""  # noqa: S608 - the table name is the model's; values are parameters
SECONDS_LEFT = f"""
    SELECT key, failures, extract(epoch FROM window_started_at + make_interval(secs => %(window)s) - now())
    FROM {TABLE} WHERE key = ANY(%(keys)s) AND window_started_at > now() - make_interval(secs => %(window)s)
"""  # noqa: S608
FORGET_EXPIRED = f"DELETE FROM {TABLE} WHERE window_started_at < now() - make_interval(secs => %(window)s)"  # noqa: S608


class LoginAttempt:
    """One login attempt's two counters: its client address and the username it tried."""

    def __init__(self, address: str, username: str) -> None:
        # Usernames are hashed (bounded keys, no usernames kept) and case-folded, so "Admin" and
        # "admin" count together.
        name = hashlib.sha256(username.casefold().encode()).hexdigest()
        self.limits = {
            f"address:{address}"[:80]: settings.LOGIN_FAILURES_PER_ADDRESS,
            f"username:{name}": settings.LOGIN_FAILURES_PER_USERNAME,
        }
        self.window: int = settings.LOGIN_FAILURES_WINDOW  # seconds

    async def retry_after(self) -> int | None:
        """Seconds until this attempt may be made, or None if it may be made now."""
        return await sync_to_async(self._retry_after)()

    def _retry_after(self) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute(SECONDS_LEFT, {"keys": list(self.limits), "window": self.window})
            waits = [left for key, failures, left in cursor.fetchall() if failures >= self.limits[key]]
        return max(1, math.ceil(max(waits))) if waits else None

    async def failed(self) -> None:
        await sync_to_async(self._failed)()

    def _failed(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(FORGET_EXPIRED, {"window": self.window})
            for key in self.limits:
                cursor.execute(RECORD_FAILURE, {"key": key, "window": self.window})

    async def succeeded(self) -> None:
        await LoginFailures.objects.filter(key__in=list(self.limits)).adelete()
