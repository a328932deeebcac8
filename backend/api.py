"""The one NinjaAPI of the project, mounted at /api/; each app adds its router here."""

from ninja import NinjaAPI

from backend import problems
from backend.version import VERSION


class API(NinjaAPI):
    """Ninja, with the schema the frontend's generated types rely on."""

    def get_openapi_operation_id(self, operation) -> str:
        # camelCase of the view's name (get_health -> getHealth), not the module path.
        first, *rest = operation.view_func.__name__.split("_")
        return first + "".join(word.capitalize() for word in rest)

    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        # Error responses are problem details: say so, so clients and fuzzers expect that type.
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400 and "content" in response:
                        media = next(iter(response["content"].values()))
                        response["content"] = {problems.CONTENT_TYPE: media}
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
api.add_router("/health", "apps.health.api.router")
api.add_router("/config", "apps.configuration.api.router")
