from django.apps import AppConfig


class BackendConfig(AppConfig):
    name = "backend"
    verbose_name = "Platform"

    def ready(self) -> None:
        from backend import checks  # noqa: F401, PLC0415 - registers the production checks
