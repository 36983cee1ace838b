"""Bearer tokens to principals: the `Authorization` header, verified."""

from __future__ import annotations

from users_service.application.access import TRUSTED, InvalidToken, Principal, TokenVerifier


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
            raise InvalidToken("A bearer token is required.", "missing")
        return await self._verifier.verify(token)
