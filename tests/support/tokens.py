"""Tokens for tests: the right ones, and every wrong kind."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECRET = "test-secret-that-is-long-enough-for-hs256"
ADMIN_SCOPES = "users:read users:write"


def token(
    *,
    scope: str | None = ADMIN_SCOPES,
    sub: str | None = "tester",
    secret: str = SECRET,
    algorithm: str = "HS256",
    ttl: int = 600,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + ttl, **claims}
    if scope is not None:
        payload["scope"] = scope
    if sub is not None:
        payload["sub"] = sub
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def unsigned(payload: dict[str, Any]) -> str:
    """An `alg: none` token."""
    return jwt.encode(payload, None, algorithm="none")


def hs256_signed_with(key: str, payload: dict[str, Any]) -> str:
    """HS256 over `key` by hand: PyJWT rightly refuses to use a PEM key as an HMAC secret,
    which is exactly the forgery a verifier must reject."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(payload).encode())
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def claims(scope: str = ADMIN_SCOPES, ttl: int = 600) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "tester", "scope": scope, "iat": now, "exp": now + ttl}
