"""OpenAPI: every problem an operation can return, documented as application/problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from users_service.entrypoints.http.problems import PROBLEM_MEDIA_TYPE
from users_service.entrypoints.http.schemas import Problem
from users_service.entrypoints.http.security import BEARER_SCHEME

_DESCRIPTIONS = {
    400: "Malformed request (unparseable body, bad cursor)",
    401: "Missing, malformed, expired or forged bearer token",
    403: "The token lacks the scope this operation needs",
    404: "No such user",
    409: "Email already registered, or a request with this Idempotency-Key is in flight",
    412: "If-Match names a stale version",
    413: "Request body over the size limit",
    415: "Body is not JSON",
    422: "Invalid input; `errors` locates each problem",
    500: "Unexpected error (logged with the request id)",
    503: "Database unavailable; retry after `Retry-After` seconds",
}

_ALWAYS = (500,)
AUTHENTICATED = (401, 403, 503)


def optional_header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """`openapi_extra` documenting a header the route reads from the request itself.

    Optional headers are read that way, not declared as FastAPI parameters: FastAPI
    resolves and validates every declared parameter on every request, about 10 µs of CPU
    apiece (measured), for headers that most requests do not send.
    """
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }
    return {"parameters": [parameter]}


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: the route's name (`get_user`), not FastAPI's path-derived one."""
    return route.name


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (500 is always possible)."""
    return {
        status: {"description": _DESCRIPTIONS[status], "model": Problem}
        for status in sorted({*statuses, *_ALWAYS})
    }


def install_openapi(app: FastAPI) -> None:
    """Error responses carry application/problem+json, FastAPI's default 422 included."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _use_problem_media_type(schema)
            _declare_bearer_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_bearer_security(schema: dict[str, Any]) -> None:
    """Every operation that answers 401 needs a bearer token."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = BEARER_SCHEME
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if "401" in operation.get("responses", {}):
                operation["security"] = [{"bearer": []}]


def _use_problem_media_type(schema: dict[str, Any]) -> None:
    problem_ref = {"$ref": f"#/components/schemas/{Problem.__name__}"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
                    if status == "422":
                        response["description"] = _DESCRIPTIONS[422]
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
