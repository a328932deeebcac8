"""A migration no test database has applied: readiness must name it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []
    operations = []
