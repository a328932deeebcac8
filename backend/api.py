"""The one NinjaAPI of the project, mounted at /api/; each app adds its router here."""

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from backend import problems
from backend.auth import CSRF_REQUIRING_SCHEMES, CSRF_SCHEMES
from backend.version import VERSION

SAFE_METHODS = {"get", "head", "options", "trace"}


class API(NinjaAPI):
    """Ninja, with the schema the frontend's generated types rely on."""

    def get_openapi_operation_id(self, operation: Operation) -> str:
        # camelCase of the view's name (get_health -> getHealth), not the module path.
        first, *rest = operation.view_func.__name__.split("_")
        return first + "".join(word.capitalize() for word in rest)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for path in schema["paths"].values():
            for method, operation in path.items():
                # Error responses are problem details: say so, so clients and fuzzers expect that type.
                for status, response in operation["responses"].items():
                    if int(status) >= 400 and "content" in response:
                        media = next(iter(response["content"].values()))
                        response["content"] = {problems.CONTENT_TYPE: media}
                # A session on an unsafe method needs the CSRF header too (the same requirement).
                if method not in SAFE_METHODS:
                    for requirement in operation.get("security", []):
                        if requirement.keys() & CSRF_REQUIRING_SCHEMES:
                            requirement.update({scheme: [] for scheme in CSRF_SCHEMES})
        schema["components"].setdefault("securitySchemes", {}).update(CSRF_SCHEMES)
        return schema


api = API(
    title="Backend API",
    version=VERSION,
    description="The product API. Errors are RFC 9457 problem details (application/problem+json).",
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api",
)
problems.install(api)
api.add_router("/auth", "apps.accounts.api.router")
api.add_router("/health", "apps.health.api.router")
api.add_router("/config", "apps.configuration.api.router")
