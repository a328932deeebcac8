"""Django's PostgreSQL backend, plus starting the embedded server on first connection.

Settings mark the embedded database with ``"EMBEDDED": True``; the server is then started (and
created) the first time this process connects, so every command that needs the database works
with nothing configured, and commands that do not need it never pay for it. Its password is read
from the cluster's folder then (backend/db/embedded.py).
"""

from typing import Any

from django.db.backends.postgresql import base

from backend.db.embedded import EmbeddedPostgres


class DatabaseWrapper(base.DatabaseWrapper):
    _embedded_port: int | None = None
    _embedded_password: str | None = None

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self.settings_dict.get("EMBEDDED"):
            params["port"] = self._ensure_embedded()
            params["password"] = DatabaseWrapper._embedded_password
        return params

    @staticmethod
    def embedded_port() -> int | None:
        """The embedded server's port, once this process has started it."""
        return DatabaseWrapper._embedded_port

    @classmethod
    def _ensure_embedded(cls) -> int:
        # Once per process: a server stopped later on purpose (or crashed) must show as an outage,
        # not be restarted behind the operator's back.
        if DatabaseWrapper._embedded_port is None:
            server = EmbeddedPostgres.for_project()
            DatabaseWrapper._embedded_port = server.ensure_running()
            DatabaseWrapper._embedded_password = server.password
        return DatabaseWrapper._embedded_port
