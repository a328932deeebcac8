from django.contrib.auth.models import AbstractUser
from django.db import models

from backend.db.models import UUIDModel


class User(UUIDModel, AbstractUser):
    """The project's user: Django's, with a UUIDv7 primary key and timestamps."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["-created_at"]


class LoginFailures(models.Model):
    """Failed logins counted per client address or per username within a window, in the database
    so every worker and host counts together (apps/accounts/throttle.py)."""

    key = models.CharField(max_length=80, primary_key=True)
    window_started_at = models.DateTimeField()
    failures = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_started_at"], name="login_failures_window")]
        verbose_name_plural = "login failures"

    def __str__(self) -> str:
        return f"{self.key}: {self.failures} since {self.window_started_at:%Y-%m-%d %H:%M:%S}"
