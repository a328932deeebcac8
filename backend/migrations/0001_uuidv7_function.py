"""Install uuidv7() on PostgreSQL 15-17; PostgreSQL 18 has it built in (and it is left alone)."""

from django.db import migrations

FALLBACK = """
CREATE OR REPLACE FUNCTION public.uuidv7() RETURNS uuid AS $$
    -- RFC 9562 version 7: 48-bit Unix time in ms, version 0111, then random bits (variant 10 kept
    -- from gen_random_uuid()).
    SELECT encode(
        set_bit(
            set_bit(
                overlay(uuid_send(gen_random_uuid())
                        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6),
                52, 1),
            53, 1),
        'hex')::uuid;
$$ LANGUAGE sql VOLATILE PARALLEL SAFE;
"""


def install(apps, schema_editor):
    if schema_editor.connection.pg_version < 180000:
        schema_editor.execute(FALLBACK)


def uninstall(apps, schema_editor):
    if schema_editor.connection.pg_version < 180000:
        schema_editor.execute("DROP FUNCTION IF EXISTS public.uuidv7()")


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
