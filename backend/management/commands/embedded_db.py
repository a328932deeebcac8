from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backend.db.embedded import EmbeddedDatabaseError, EmbeddedPostgres


class Command(BaseCommand):
    help = "Show, start or stop the embedded development PostgreSQL."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["status", "start", "stop"], nargs="?", default="status")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        server = EmbeddedPostgres.for_project()
        try:
            if action == "start":
                port = server.ensure_running()
                self.stdout.write(f"running on 127.0.0.1:{port}")
            elif action == "stop":
                self.stdout.write("stopped" if server.stop() else "was not running")
            else:
                self.stdout.write(server.status())
        except EmbeddedDatabaseError as error:
            raise CommandError(str(error)) from None
