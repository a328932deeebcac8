"""Staff-only views of the configuration: the production checks and the database."""

from typing import Any

from django.http import HttpRequest
from ninja import Router

from apps.configuration import services
from apps.configuration.schemas import ConnectionTest, DatabaseStatus, Validation
from backend.auth import staff_session
from backend.problems import ERROR_RESPONSES

router = Router(tags=["config"], auth=staff_session)


@router.get("/validate", response={200: Validation, **ERROR_RESPONSES}, operation_id="validateConfig")
def validate_config(request: HttpRequest) -> dict[str, Any]:
    """The checks that guard production startup, run against the current settings."""
    return services.configuration_validate()


@router.get("/database/status", response={200: DatabaseStatus, **ERROR_RESPONSES}, operation_id="getDatabaseStatus")
async def get_database_status(request: HttpRequest) -> dict[str, Any]:
    """Where the database settings came from, and whether it answers. Never the password."""
    return await services.database_status()


@router.post("/database/test", response={200: ConnectionTest, **ERROR_RESPONSES}, operation_id="testDatabase")
async def test_database(request: HttpRequest) -> dict[str, Any]:
    """A live connection test of the configured database (nothing is taken from the request)."""
    return await services.database_test()
