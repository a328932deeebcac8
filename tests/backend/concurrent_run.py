"""Run twice at once by test_embedded.py: each run must work in a test database of its own.

Not collected by the suite itself (no test_ prefix); test_embedded names it.
"""

import sys
import time

import pytest
from django.db import connection

from apps.accounts.models import User


@pytest.mark.django_db(transaction=True)
def test_works_alone_in_its_database(capsys):
    User.objects.create_user("only-in-this-run")
    time.sleep(2)  # both runs hold their databases at once
    assert list(User.objects.values_list("username", flat=True)) == ["only-in-this-run"]
    with capsys.disabled():
        sys.stdout.write(f"\ndatabase={connection.settings_dict['NAME']}\n")
