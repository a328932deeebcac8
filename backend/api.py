"""The one NinjaAPI of the project, mounted at /api/; each app adds its router here."""

from ninja import NinjaAPI

from backend import problems
from backend.version import VERSION

api = NinjaAPI(
    title="Backend API",
    version=VERSION,
    description="The product API. Errors are RFC 9457 problem details.",
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api",
)
problems.install(api)
api.add_router("/health", "apps.health.api.router")
api.add_router("/config", "apps.configuration.api.router")
