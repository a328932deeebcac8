"""Migrations: in step with the models, and reversible to zero and back on the configured server."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def uuidv7_functions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE proname = 'uuidv7'"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_all_migrations_apply_back_to_zero_and_forward_again():
    executor = MigrationExecutor(connection)
    apps = sorted(executor.loader.migrated_apps)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([(app, None) for app in apps])
        assert set(connection.introspection.table_names()) <= {"django_migrations"}
        # The fallback uuidv7() goes with its migration; PostgreSQL 18's own stays.
        expected = {"pg_catalog"} if connection.pg_version >= 180000 else set()
        assert uuidv7_functions() == expected
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
    assert "accounts_user" in connection.introspection.table_names()
    assert uuidv7_functions() == ({"pg_catalog"} if connection.pg_version >= 180000 else {"public"})


@pytest.mark.django_db
def test_the_user_id_column_defaults_to_uuidv7_in_sql():
    out = StringIO()
    call_command("sqlmigrate", "accounts", "0001", stdout=out)
    assert '"id" uuid DEFAULT (uuidv7()) NOT NULL PRIMARY KEY' in out.getvalue()
