from django.contrib.auth.models import AbstractUser

from backend.db.models import UUIDModel


class User(UUIDModel, AbstractUser):
    """The project's user: Django's, with a UUIDv7 primary key and timestamps."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["-created_at"]
