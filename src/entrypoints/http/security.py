"""Authentication at the edge: a bearer token becomes a `Principal` for the use cases.

Every users route is a `ProtectedRoute` (see `routing.py`): the caller is authenticated
before anything else about the request is looked at, and the endpoint reads the result
with `caller(request)`. The OpenAPI document declares the bearer scheme for every
protected operation (see `openapi.py`), so /docs has a working Authorize button.
"""

from typing import cast

from starlette.requests import Request

from users_service.application.access import Principal
from users_service.entrypoints.http.authenticator import Authenticator

BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT from the identity provider. Scopes: `users:read`, `users:write`.",
}
_PRINCIPAL = "users_service.principal"


async def authenticate(request: Request, authenticator: Authenticator) -> None:
    """Authenticate the request's caller (raises `InvalidToken`), for `caller` to read."""
    request.scope[_PRINCIPAL] = await authenticator(request.headers.get("authorization"))


def caller(request: Request) -> Principal:
    """Who is calling, as `authenticate` established."""
    principal = request.scope.get(_PRINCIPAL)
    if principal is None:
        raise RuntimeError(f"{request.url.path} is not an authenticated route")
    return cast(Principal, principal)
