"""`ProtectedRoute`: what every users route does before FastAPI reads its parameters."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from users_service.entrypoints.http.problems import UNSUPPORTED_MEDIA_TYPE, ProblemError
from users_service.entrypoints.http.security import authenticate
from users_service.entrypoints.http.services import http_services

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def require_json(request: Request) -> None:
    """Bodies must be JSON (application/json or any +json type such as merge-patch)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ProblemError(UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json (UTF-8).")


class ProtectedRoute(APIRoute):
    """A route whose caller is authenticated first, so that a bad token is a 401 whatever
    else is wrong with the request (nothing about the input is told to a stranger); then,
    for a route that takes a body, the body must be JSON (415 otherwise).

    This runs in the route's handler, where FastAPI's own checks run, so its errors
    reach the same exception handlers. It replaces per-endpoint dependencies, which
    FastAPI would solve one by one on every request (docs/performance.md).

    The OpenAPI document takes its bearer security from this class (`openapi.py`): every
    operation of a ProtectedRoute, and only those, requires the token, and building the
    schema fails if a route's documented 401/403/503 disagree with its class.
    """

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        takes_body = self.body_field is not None

        async def protected(request: Request) -> Response:
            await authenticate(request, http_services(request).authenticator)
            if takes_body:
                require_json(request)
            return await handle(request)

        return protected
