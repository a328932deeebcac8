#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

from django.core.management import execute_from_command_line

from backend.db.pools import without_pools
from backend.errors import exit_on_startup_error


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with exit_on_startup_error():
        without_pools()
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
