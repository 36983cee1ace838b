"""Bearer-token verification: JWTs signed with a shared secret, a PEM key or a JWKS."""

from users_service.adapters.tokens.jwks import JwksClient
from users_service.adapters.tokens.minting import Hs256TokenMinter
from users_service.adapters.tokens.verifier import JwtSettings, JwtVerifier

__all__ = ["Hs256TokenMinter", "JwksClient", "JwtSettings", "JwtVerifier"]
