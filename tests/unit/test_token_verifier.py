from __future__ import annotations

import time

import pytest

from tests.support.tokens import SECRET, token
from users_service.adapters.tokens import verifier as verifier_module
from users_service.adapters.tokens.verifier import JwtSettings, JwtVerifier
from users_service.application.access import InvalidToken, Principal


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier(JwtSettings(algorithms=["HS256"], leeway=5, secret=SECRET))


async def test_scopes_and_subject(verifier: JwtVerifier) -> None:
    principal = await verifier.verify(token(sub="42", scope="users:read users:write"))
    assert principal.subject == "42"
    assert principal.scopes == frozenset({"users:read", "users:write"})


async def test_remembered_token_is_checked_again_after_exp(
    verifier: JwtVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = 0
    real_verify = verifier._verify

    async def counting(raw: str) -> tuple[Principal, float, float]:
        nonlocal checks
        checks += 1
        return await real_verify(raw)

    monkeypatch.setattr(verifier, "_verify", counting)
    good = token(ttl=60)
    await verifier.verify(good)
    await verifier.verify(good)
    assert checks == 1  # the second use came from memory
    later = time.time() + 60 + 6  # past exp and the leeway
    monkeypatch.setattr(verifier_module.time, "time", lambda: later)
    await verifier.verify(good)
    assert checks == 2  # memory no longer vouches for it: the signature and exp are checked


async def test_expired_token_is_refused(verifier: JwtVerifier) -> None:
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token(ttl=-60))


async def test_memory_is_bounded(verifier: JwtVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JwtVerifier, "CACHE_SIZE", 3)
    for i in range(10):
        await verifier.verify(token(sub=str(i)))
    assert len(verifier._verified) == 3


async def test_configuration_must_match_algorithms() -> None:
    with pytest.raises(ValueError, match="secret"):
        JwtVerifier(JwtSettings(algorithms=["HS256"], leeway=5))
    with pytest.raises(ValueError, match="public key"):
        JwtVerifier(JwtSettings(algorithms=["RS256"], leeway=5, secret=SECRET))
