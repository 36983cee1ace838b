"""A bearer token for the load: the service verifies it, the ceiling ignores it."""

from __future__ import annotations

import time

import jwt

SCOPES = "users:read users:write groups:read groups:write"


def bearer_token(secret: str, lifetime_s: int = 6 * 3600) -> str:
    now = int(time.time())
    claims = {"sub": "bench", "scope": SCOPES, "iat": now, "exp": now + lifetime_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def service_env(mode: str, secret: str) -> dict[str, str]:
    """AUTH_* settings for the service (ignored by a service without authentication)."""
    if mode == "off":
        return {"AUTH_DISABLED": "true"}
    return {"AUTH_DISABLED": "false", "AUTH_JWT_SECRET": secret, "AUTH_ALGORITHMS": "HS256"}
