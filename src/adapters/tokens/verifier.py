from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from users_service.adapters.tokens.jwks import JwksClient, JwksUnavailable
from users_service.application.access import AuthenticationUnavailable, InvalidToken, Principal

_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"})


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """How tokens are verified (the defaults: the service's Settings, AUTH_*)."""

    algorithms: Sequence[str]
    leeway: float  # seconds of clock skew allowed
    secret: str | None = None
    public_key: str | None = None
    jwks: JwksClient | None = None
    issuer: str | None = None
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class _Kid:
    kid: str | None


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token: who it speaks for, when it is valid, and the key that verified
    it (with its `kid` when that key came from a JWKS, to be looked up again)."""

    principal: Principal
    not_before: float
    expires: float
    key: Any
    jwks_kid: _Kid | None


class JwtVerifier:
    """Verifies JWTs with pinned algorithms: the header's `alg` must be configured, and
    it picks the key family (a shared secret for HS*, a public key or JWKS otherwise),
    so `alg: none` or an HS token signed with a public key never verifies.

    A verified token is remembered (bounded, least recently used first out) until its
    `exp`: a client reuses one token for many requests, and checking a signature costs
    more than the rest of a short read. Time bounds are checked again on every use, and
    so is the key of a token verified through a JWKS: each use looks its `kid` up in the
    key set (refreshed when older than AUTH_JWKS_CACHE_SECONDS), and a token whose key
    has left the set, or been replaced, is verified again (and refused if unsigned by
    what the set holds now).
    """

    CACHE_SIZE = 4096

    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        allowed = set(settings.algorithms)
        if allowed & _SYMMETRIC and not settings.secret:
            raise ValueError("HS algorithms need a shared secret")
        if allowed & _ASYMMETRIC and not (settings.public_key or settings.jwks):
            raise ValueError("RS/ES algorithms need a public key or a JWKS URL")
        self._allowed = frozenset(allowed)

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            now = time.time()
            leeway = self._settings.leeway
            if remembered.not_before - leeway <= now < remembered.expires + leeway and (
                remembered.jwks_kid is None
                or await self._jwks_key(remembered.jwks_kid.kid) is remembered.key
            ):
                if self._verified.get(token) is remembered:  # not dropped meanwhile
                    self._verified.move_to_end(token)
                return remembered.principal
            self._verified.pop(token, None)
        verified = await self._verify(token)
        self._verified[token] = verified
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return verified.principal

    async def _verify(self, token: str) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is malformed.", "malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._allowed:
            raise InvalidToken("The token's signing algorithm is not accepted.", "algorithm")
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        key = await self._key(algorithm, kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                leeway=self._settings.leeway,
                options={
                    "require": ["exp"],
                    "verify_aud": self._settings.audience is not None,
                    "verify_iss": self._settings.issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The token has expired.", "expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The token is not valid yet.", "not_yet_valid") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("The token could not be verified.", "bad_signature") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise InvalidToken(
                "The token could not be verified.", "wrong_audience_or_issuer"
            ) from None
        except jwt.MissingRequiredClaimError:
            raise InvalidToken("The token could not be verified.", "missing_claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("The token could not be verified.", "bad_signature") from None
        return _Verified(
            principal=Principal(subject=_subject(claims), scopes=_scopes(claims)),
            not_before=_number(claims.get("nbf"), float("-inf")),
            expires=float(claims["exp"]),
            key=key,
            jwks_kid=_Kid(kid) if self._from_jwks(algorithm) else None,
        )

    def _from_jwks(self, algorithm: str) -> bool:
        return algorithm not in _SYMMETRIC and not self._settings.public_key

    async def _key(self, algorithm: str, kid: str | None) -> Any:
        if algorithm in _SYMMETRIC:
            return self._settings.secret
        if self._settings.public_key:
            return self._settings.public_key
        key = await self._jwks_key(kid)
        if key is None:
            raise InvalidToken("The token was signed with an unknown key.", "unknown_key")
        return key

    async def _jwks_key(self, kid: str | None) -> Any:
        assert self._settings.jwks is not None
        try:
            return await self._settings.jwks.key(kid)
        except JwksUnavailable:
            raise AuthenticationUnavailable(
                "The identity provider's keys cannot be fetched."
            ) from None


def _number(value: object, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _subject(claims: dict[str, Any]) -> str:
    for claim in ("sub", "client_id", "azp"):
        value = claims.get(claim)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return ""


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    if isinstance(scp, str):
        return frozenset(scp.split())
    return frozenset()
