"""Authentication at the edge: a bearer token becomes a `Principal` for the use cases."""

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from application.access import TRUSTED, InvalidToken, Principal, TokenVerifier
from entrypoints.http.dependencies import provided

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT from the identity provider. Scopes: `users:read`, `users:write`.",
)


class Authenticator:
    """Verifies bearer tokens; with no verifier (AUTH_DISABLED) everyone is trusted."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self._verifier = verifier

    async def __call__(self, token: str | None) -> Principal:
        if self._verifier is None:
            return TRUSTED
        if not token:
            raise InvalidToken("A bearer token is required.")
        return await self._verifier.verify(token)


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    authenticate: Annotated[Authenticator, provided("authenticator")],
) -> Principal:
    return await authenticate(credentials.credentials if credentials else None)


Actor = Annotated[Principal, Depends(current_principal)]
