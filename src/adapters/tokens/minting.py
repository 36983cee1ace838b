from __future__ import annotations

import time
import uuid

import jwt


class Hs256TokenMinter:
    """Mints HS256 tokens with the configured shared secret (development and tests)."""

    def __init__(self, secret: str, issuer: str | None = None, audience: str | None = None) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience

    def mint(self, *, subject: str, scopes: str, ttl_seconds: int) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": subject,
            "scope": scopes,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        return jwt.encode(claims, self._secret, algorithm="HS256")
