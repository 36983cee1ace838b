from __future__ import annotations

import time

import pytest

from adapters.tokens import verifier as verifier_module
from adapters.tokens.verifier import JwtSettings, JwtVerifier
from application.access import InvalidToken
from tests.support.tokens import SECRET, token


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier(JwtSettings(algorithms=["HS256"], secret=SECRET, leeway=5))


async def test_scopes_and_subject(verifier: JwtVerifier) -> None:
    principal = await verifier.verify(token(sub="42", scope="users:read users:write"))
    assert principal.subject == "42"
    assert principal.scopes == frozenset({"users:read", "users:write"})


async def test_remembered_token_still_expires(
    verifier: JwtVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = token(ttl=60)
    await verifier.verify(good)
    await verifier.verify(good)  # from memory
    later = time.time() + 60 + 6
    monkeypatch.setattr(verifier_module.time, "time", lambda: later)
    with pytest.raises(InvalidToken):
        await verifier.verify(good)


async def test_memory_is_bounded(verifier: JwtVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JwtVerifier, "CACHE_SIZE", 3)
    for i in range(10):
        await verifier.verify(token(sub=str(i)))
    assert len(verifier._verified) == 3


async def test_configuration_must_match_algorithms() -> None:
    with pytest.raises(ValueError, match="secret"):
        JwtVerifier(JwtSettings(algorithms=["HS256"]))
    with pytest.raises(ValueError, match="public key"):
        JwtVerifier(JwtSettings(algorithms=["RS256"], secret=SECRET))
