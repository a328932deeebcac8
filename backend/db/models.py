"""The abstract base every model inherits: a UUIDv7 primary key and timestamps."""

from django.db import models

from backend.db.uuid7 import UUIDv7, uuid7


class UUIDModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, db_default=UUIDv7(), editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        get_latest_by = "created_at"
