"""OpenAPI: every problem an operation can return, documented as application/problem+json."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from users_service.entrypoints.http.problems import PROBLEM_MEDIA_TYPE
from users_service.entrypoints.http.routing import ProtectedRoute
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
            _declare_bearer_security(schema, app.routes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_bearer_security(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Every operation of a `ProtectedRoute`, and no other, needs a bearer token.

    The route class decides, because it is what authenticates; the documented responses
    must agree with it, or building the schema fails: a protected operation lists 401,
    403 and 503 (bad token, missing scope, identity provider down), an unprotected one
    lists no 401 and carries no security requirement of its own.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = BEARER_SCHEME
    for route, method, operation in _operations(schema, routes):
        documented = set(operation.get("responses", {}))
        name = f"{method} {route.path_format} ({operation.get('operationId', route.name)})"
        if isinstance(route.original_route, ProtectedRoute):
            missing = [str(s) for s in AUTHENTICATED if str(s) not in documented]
            if missing:
                raise RuntimeError(
                    f"{name} is a ProtectedRoute but does not document {', '.join(missing)}: "
                    "add problems(*AUTHENTICATED) to its responses"
                )
            operation["security"] = [{"bearer": []}]
        elif "401" in documented or "security" in operation:
            raise RuntimeError(
                f"{name} documents authentication (401 or security) but its route is not a "
                "ProtectedRoute, so nothing enforces it: use route_class=ProtectedRoute or "
                "drop the 401"
            )


def _operations(
    schema: dict[str, Any], routes: Sequence[BaseRoute]
) -> Iterator[tuple[RouteContext, str, dict[str, Any]]]:
    """(route, METHOD, operation) for every operation in the schema.

    The routes as `get_openapi` walks them (`iter_route_contexts`: included routers
    flattened, prefixes applied); `original_route` is the route object, of its own class.
    """
    paths = schema.get("paths", {})
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                raise RuntimeError(
                    f"{method} {route.path_format} ({route.name}) is not in the schema"
                )
            yield route, method, operation


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
