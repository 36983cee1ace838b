"""OWASP API Top 10 checks on authentication and authorization (A1 to A4), plus the
JWKS, idempotency-scoping and hardening rules of the contract."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from pydantic import SecretStr
from starlette.requests import Request

from tests.support.app import serve
from tests.support.http import assert_problem, create
from tests.support.jwks_server import JwksServer
from tests.support.settings import IsolatedSettings
from tests.support.tokens import (
    SECRET,
    bearer,
    claims,
    ec_key,
    hs256_signed_with,
    public_pem,
    rsa_key,
    token,
    unsigned,
)
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.http.routing import ProtectedRoute
from users_service.entrypoints.http.security import caller

AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

PROTECTED = [
    ("GET", "/users", None),
    ("GET", "/users/1", None),
    ("POST", "/users", {"email": "a@example.com", "name": "A"}),
    ("PATCH", "/users/1", {"name": "B"}),
    ("DELETE", "/users/1", None),
    ("POST", "/users/batch", {"users": [{"email": "a@example.com", "name": "A"}]}),
]


@pytest.fixture
def app_client(database_url: str) -> AppFactory:
    """Builds an app with the given settings overrides; yields an unauthenticated client."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with serve(IsolatedSettings(database_url=database_url, **overrides)) as service:
            yield service.client

    return build


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


RSA = rsa_key()
RSA_PEM = public_pem(RSA)


def bad_tokens() -> dict[str, dict[str, str]]:
    return {
        "none": {},
        "not bearer": {"Authorization": f"Basic {token()}"},
        "malformed": bearer("not.a.jwt"),
        "garbage": bearer("x" * 50),
        "expired": bearer(token(ttl=-60)),
        "forged signature": bearer(token(secret="another-secret-of-sufficient-length!")),
        "alg none": bearer(unsigned({"sub": "x", "scope": "users:read users:write", "exp": 2**31})),
        "HS256 signed with the RS public key": bearer(hs256_signed_with(RSA_PEM, claims())),
        "no exp": bearer(_no_exp()),
        "not yet valid": bearer(token(nbf=2**31 - 10)),
        "wrong issuer": bearer(token(iss="https://evil.example")),
        "wrong audience": bearer(token(aud="someone-else")),
    }


def _no_exp() -> str:
    import jwt

    return jwt.encode({"sub": "x", "scope": "users:read users:write"}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("case", list(bad_tokens()))
async def test_a1_bad_credentials_are_401_on_every_protected_route(
    app_client: AppFactory, case: str
) -> None:
    headers = bad_tokens()[case]
    async with app_client(
        auth_jwt_secret=SecretStr(SECRET),
        auth_issuer="https://id.example",
        auth_audience="users-service",
    ) as client:
        for method, path, body in PROTECTED:
            response = await client.request(method, path, json=body, headers=headers)
            assert_unauthorized(response)


# What is wrong with a request besides its token is not a stranger's business: the token
# is checked first, so every one of these is a 401, never a 415, 422 or 400.
MALFORMED_AND_UNAUTHENTICATED = [
    ("GET", "/users/0", {}, None),
    ("GET", "/users?limit=0&sort=name", {}, None),
    ("GET", "/users?cursor=not-a-cursor", {}, None),
    ("POST", "/users", {"Content-Type": "text/plain"}, b"hello"),
    ("POST", "/users", {"Content-Type": "application/json"}, b"{not json"),
    ("POST", "/users", {"Content-Type": "application/json"}, b'{"email": "nope"}'),
    ("POST", "/users/batch", {"Content-Type": "application/json"}, b'{"users": []}'),
    ("PATCH", "/users/1", {"Content-Type": "text/plain"}, b"x"),
    ("PATCH", "/users/1", {"Content-Type": "application/json", "If-Match": "v1"}, b"[]"),
    ("DELETE", "/users/0", {"If-Match": "nonsense"}, None),
]


@pytest.mark.parametrize(("method", "path", "headers", "content"), MALFORMED_AND_UNAUTHENTICATED)
async def test_a1_token_is_checked_before_anything_else(
    app_client: AppFactory,
    method: str,
    path: str,
    headers: dict[str, str],
    content: bytes | None,
) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        for credentials in ({}, bearer("not.a.jwt")):
            response = await client.request(
                method, path, headers={**headers, **credentials}, content=content
            )
            assert_unauthorized(response)


def test_every_resource_route_is_protected() -> None:
    app = create_app(container_for(IsolatedSettings(database_url="memory://", auth_disabled=True)))
    routes = [r for r in app.routes if getattr(r, "path", "").startswith(("/users", "/groups"))]
    # Users: six operations, all but batch also with a trailing slash, and a user's groups.
    # Groups: five operations on groups, four on members.
    assert len(routes) == 12 + 9
    unprotected = [r.path for r in routes if not isinstance(r, ProtectedRoute)]
    assert unprotected == []


async def test_a1_hs_token_rejected_by_a_public_key_deployment(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_public_key=RSA_PEM) as client:
        forged = hs256_signed_with(RSA_PEM, claims())  # the public key as an HMAC secret
        assert_unauthorized(await client.get("/users", headers=bearer(forged)))
        good = token(secret=RSA, algorithm="RS256")  # type: ignore[arg-type]
        assert (await client.get("/users", headers=bearer(good))).status_code == 200


async def test_es256_public_key(app_client: AppFactory) -> None:
    key = ec_key()
    async with app_client(auth_jwt_public_key=public_pem(key)) as client:
        good = token(secret=key, algorithm="ES256")  # type: ignore[arg-type]
        assert (await client.get("/users", headers=bearer(good))).status_code == 200
        rsa_signed = token(secret=RSA, algorithm="RS256")  # type: ignore[arg-type]
        assert_unauthorized(await client.get("/users", headers=bearer(rsa_signed)))


async def test_issuer_and_audience_accepted_when_right(app_client: AppFactory) -> None:
    async with app_client(
        auth_jwt_secret=SecretStr(SECRET), auth_issuer="https://id.example", auth_audience="svc"
    ) as client:
        good = token(iss="https://id.example", aud="svc")
        assert (await client.get("/users", headers=bearer(good))).status_code == 200
        leeway = token(iss="https://id.example", aud="svc", ttl=-2)  # within 5 s of leeway
        assert (await client.get("/users", headers=bearer(leeway))).status_code == 200


async def test_probes_and_docs_stay_public(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        for path in ("/livez", "/readyz", "/docs", "/openapi.json"):
            assert (await client.get(path)).status_code == 200, path


async def test_a2_self_service_cannot_reach_other_users(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        admin = bearer(token())
        a = (
            await client.post("/users", json={"email": "a@x.com", "name": "A"}, headers=admin)
        ).json()
        b = (
            await client.post("/users", json={"email": "b@x.com", "name": "B"}, headers=admin)
        ).json()
        me = bearer(token(scope=None, sub=str(a["id"])))

        assert (await client.get(f"/users/{a['id']}", headers=me)).json() == a
        mine = await client.patch(f"/users/{a['id']}", json={"name": "A2"}, headers=me)
        assert mine.status_code == 200

        assert_problem(await client.get(f"/users/{b['id']}", headers=me), 404, "user_not_found")
        patch_b = await client.patch(f"/users/{b['id']}", json={"name": "X"}, headers=me)
        assert_problem(patch_b, 404, "user_not_found")
        delete_b = await client.delete(f"/users/{b['id']}", headers=me)
        assert delete_b.status_code in {403, 404}
        listing = await client.get("/users", headers=me)
        assert_problem(listing, 403, "insufficient_scope")

        # 1,000 guessed ids: every answer is the same 404, existing or not.
        answers = set()
        for guess in range(1, 1001):
            if guess == a["id"]:
                continue
            response = await client.get(f"/users/{guess}", headers=me)
            answers.add((response.status_code, response.json()["detail"].replace(str(guess), "N")))
        assert answers == {(404, "No user has id N.")}
        assert (await client.get(f"/users/{b['id']}", headers=admin)).json() == b


async def test_a3_read_only_token_cannot_write(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        user = (
            await client.post(
                "/users", json={"email": "a@x.com", "name": "A"}, headers=bearer(token())
            )
        ).json()
        reader = bearer(token(scope="users:read"))
        writes = [
            ("POST", "/users", {"email": "n@x.com", "name": "N"}),
            ("POST", "/users/batch", {"users": [{"email": "m@x.com", "name": "M"}]}),
            ("PATCH", f"/users/{user['id']}", {"name": "Changed"}),
            ("DELETE", f"/users/{user['id']}", None),
        ]
        for method, path, body in writes:
            response = await client.request(method, path, json=body, headers=reader)
            assert_problem(response, 403, "insufficient_scope")
            assert response.headers["www-authenticate"] == (
                'Bearer error="insufficient_scope", scope="users:write"'
            )
        listing = (await client.get("/users", headers=reader)).json()["items"]
        assert listing == [user]


async def test_scp_claim_is_accepted(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        scp = bearer(token(scope=None, scp=["users:read"]))
        assert (await client.get("/users", headers=scp)).status_code == 200


@pytest.mark.parametrize(
    "extra", [{"id": 99}, {"version": 5}, {"created_at": "2020-01-01T00:00:00Z"}, {"admin": True}]
)
async def test_a4_mass_assignment_is_refused(
    client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    user = await create(client, "ada@example.com")
    created = await client.post("/users", json={"email": "b@x.com", "name": "B", **extra})
    assert_problem(created, 422, "validation_failed")
    patched = await client.patch(f"/users/{user['id']}", json={"name": "New", **extra})
    assert_problem(patched, 422, "validation_failed")
    assert (await client.get("/users")).json()["items"] == [user]


async def test_idempotency_keys_are_scoped_to_the_subject(app_client: AppFactory) -> None:
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        key = {"Idempotency-Key": "same-key"}
        alice = {**bearer(token(sub="alice")), **key}
        bob = {**bearer(token(sub="bob")), **key}
        first = await client.post("/users", json={"email": "a@x.com", "name": "A"}, headers=alice)
        second = await client.post("/users", json={"email": "b@x.com", "name": "B"}, headers=bob)
        assert first.status_code == second.status_code == 201
        assert "idempotent-replayed" not in second.headers
        assert first.json()["id"] != second.json()["id"]
        replay = await client.post("/users", json={"email": "a@x.com", "name": "A"}, headers=alice)
        assert replay.headers["idempotent-replayed"] == "true"


async def test_jwks_keys_are_fetched_cached_and_rotated(app_client: AppFactory) -> None:
    async with JwksServer() as jwks:
        first, second = rsa_key(), rsa_key()
        jwks.keys = {"k1": first}
        async with app_client(auth_jwks_url=jwks.url, auth_jwks_min_refresh_seconds=0) as client:
            signed = token(secret=first, algorithm="RS256", headers={"kid": "k1"})  # type: ignore[arg-type]
            for _ in range(3):
                assert (await client.get("/users", headers=bearer(signed))).status_code == 200
            assert jwks.requests == 1  # cached

            jwks.keys = {"k1": first, "k2": second}  # rotation: a new kid appears
            rotated = token(secret=second, algorithm="RS256", headers={"kid": "k2"})  # type: ignore[arg-type]
            assert (await client.get("/users", headers=bearer(rotated))).status_code == 200
            assert jwks.requests == 2

            unknown = token(secret=rsa_key(), algorithm="RS256", headers={"kid": "k9"})  # type: ignore[arg-type]
            assert_unauthorized(await client.get("/users", headers=bearer(unknown)))


async def test_a_key_leaving_the_jwks_reaches_tokens_already_verified(
    app_client: AppFactory,
) -> None:
    """A remembered token is refused once the key set that no longer holds its key is
    fetched: within AUTH_JWKS_CACHE_SECONDS, not when the token expires."""
    async with JwksServer() as jwks:
        first, second = rsa_key(), rsa_key()
        jwks.keys = {"k1": first}
        async with app_client(
            auth_jwks_url=jwks.url, auth_jwks_cache_seconds=0.2, auth_jwks_min_refresh_seconds=0
        ) as client:
            signed = token(secret=first, algorithm="RS256", headers={"kid": "k1"})  # type: ignore[arg-type]
            assert (await client.get("/users", headers=bearer(signed))).status_code == 200
            assert (await client.get("/users", headers=bearer(signed))).status_code == 200
            assert jwks.requests == 1  # remembered, the key set not fetched again

            jwks.keys = {"k2": second}  # k1 is revoked
            await asyncio.sleep(0.3)  # past AUTH_JWKS_CACHE_SECONDS
            assert_unauthorized(await client.get("/users", headers=bearer(signed)))
            fresh = token(secret=second, algorithm="RS256", headers={"kid": "k2"})  # type: ignore[arg-type]
            assert (await client.get("/users", headers=bearer(fresh))).status_code == 200

            # A kid whose key is replaced: the remembered token is checked against the new one.
            jwks.keys = {"k2": rsa_key()}
            await asyncio.sleep(0.3)
            assert_unauthorized(await client.get("/users", headers=bearer(fresh)))


async def test_unknown_kid_refresh_is_rate_limited(app_client: AppFactory) -> None:
    async with JwksServer() as jwks:
        jwks.keys = {"k1": rsa_key()}
        async with app_client(auth_jwks_url=jwks.url, auth_jwks_min_refresh_seconds=60) as client:
            for i in range(20):
                forged = token(secret=rsa_key(), algorithm="RS256", headers={"kid": f"x{i}"})  # type: ignore[arg-type]
                assert_unauthorized(await client.get("/users", headers=bearer(forged)))
            assert jwks.requests == 1


async def test_jwks_unreachable_is_503_never_500(app_client: AppFactory) -> None:
    async with JwksServer() as jwks:
        jwks.failing = True
        async with app_client(auth_jwks_url=jwks.url, auth_jwks_min_refresh_seconds=0) as client:
            signed = token(secret=rsa_key(), algorithm="RS256", headers={"kid": "k1"})  # type: ignore[arg-type]
            response = await client.get("/users", headers=bearer(signed))
            assert_problem(response, 503, "service_unavailable")


async def test_no_key_configured_refuses_to_start(database_url: str) -> None:
    container = Container()
    container.settings.override(providers.Object(IsolatedSettings(database_url=database_url)))
    with pytest.raises(RuntimeError, match="AUTH_JWT_SECRET"):
        create_app(container)


async def test_auth_disabled_is_explicit_and_logged(
    app_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with app_client(auth_disabled=True) as client:
            assert (await client.get("/users")).status_code == 200
    assert any("authentication is OFF" in r.getMessage() for r in caplog.records)


async def test_no_token_or_secret_in_logs(
    app_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    good = token()
    forged = token(secret="another-secret-of-sufficient-length!")
    with caplog.at_level(logging.DEBUG):
        async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
            await client.get("/users", headers=bearer(good))
            await client.get("/users", headers=bearer(forged))
            await client.get("/users/1?token=abc", headers=bearer(good))
    text = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    for secret in (good, forged, SECRET):
        assert secret not in text


async def test_security_headers(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    response = await client.get(f"/users/{user['id']}")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/livez")).headers["x-content-type-options"] == "nosniff"


async def test_cors_is_off_by_default_and_configurable(app_client: AppFactory) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with app_client(auth_jwt_secret=SecretStr(SECRET)) as client:
        response = await client.options("/users", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    async with app_client(
        auth_jwt_secret=SecretStr(SECRET), cors_origins="https://app.example"
    ) as client:
        response = await client.options("/users", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options(
            "/users", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_openapi_declares_bearer_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for path, item in schema["paths"].items():
        for operation in item.values():
            secured = "security" in operation
            assert secured == path.startswith(("/users", "/groups")), path
            if secured:
                assert {"401", "403"} <= set(operation["responses"])


def test_caller_outside_a_protected_route_is_a_programming_error() -> None:
    scope = {"type": "http", "method": "GET", "path": "/livez", "headers": [], "query_string": b""}
    with pytest.raises(RuntimeError, match="/livez is not an authenticated route"):
        caller(Request(scope))
