"""Authentication at the edge: a bearer token becomes a `Principal` for the use cases.

The token is read straight from the Authorization header by one async dependency (no
sub-dependencies on the hot path); the OpenAPI document declares the bearer scheme for
every protected operation (see `openapi.py`), so /docs has a working Authorize button.
"""

from typing import Annotated

from fastapi import Depends, Request

from application.access import TRUSTED, InvalidToken, Principal, TokenVerifier

BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT from the identity provider. Scopes: `users:read`, `users:write`.",
}


class Authenticator:
    """Verifies bearer tokens; with no verifier (AUTH_DISABLED) everyone is trusted."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self._verifier = verifier

    async def __call__(self, authorization: str | None) -> Principal:
        if self._verifier is None:
            return TRUSTED
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("A bearer token is required.")
        return await self._verifier.verify(token)


async def current_principal(request: Request) -> Principal:
    authenticate: Authenticator = request.app.state.container.authenticator()
    return await authenticate(request.headers.get("authorization"))


Actor = Annotated[Principal, Depends(current_principal)]
