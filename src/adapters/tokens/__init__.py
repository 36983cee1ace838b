"""Bearer-token verification: JWTs signed with a shared secret, a PEM key or a JWKS."""

from adapters.tokens.jwks import JwksClient
from adapters.tokens.minting import Hs256TokenMinter
from adapters.tokens.verifier import JwtSettings, JwtVerifier

__all__ = ["Hs256TokenMinter", "JwksClient", "JwtSettings", "JwtVerifier"]
