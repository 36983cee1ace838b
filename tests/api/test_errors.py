"""Every error is problem+json: the framework's own, the edge's and the unexpected."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.app import serve
from tests.support.http import assert_problem
from tests.support.tokens import bearer, token
from users_service.entrypoints.container import Container


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nope"), 404, "not_found")
    assert "/nope" in body["detail"]


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/users")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    response = await client.post("/users/1")
    assert_problem(response, 405, "method_not_allowed")
    assert {"GET", "PATCH", "DELETE"} <= set(response.headers["allow"].replace(" ", "").split(","))


@pytest.mark.parametrize(
    "body", [b'{"email": "a@example.com", "name": ', b"not json", b'{"email": "\xff"}']
)
async def test_malformed_json_is_a_problem(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in {400, 422}
    assert_problem(response, response.status_code, response.json()["code"])


async def test_deeply_nested_json_is_a_problem(client: httpx.AsyncClient) -> None:
    body = b'{"email": ' + b"[" * 100_000 + b"]" * 100_000 + b', "name": "x"}'
    response = await client.post(
        "/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in {400, 422}
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_non_json_body_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        "/users", content=b'{"email": "a@example.com", "name": "A"}', headers=headers
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"users": [' + b'{"email": "a@example.com", "name": "x"},' * 30_000 + b"{}]}"
    assert len(big) > 1024 * 1024
    response = await client.post(
        "/users/batch", content=big, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_streamed_body_over_limit_is_413_without_reading_it_all(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 64 x 64 KiB = 4 MiB, if it were all read
            sent += 1
            yield b" " * 65536

    response = await client.post(
        "/users/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert sent < 64


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    insane = await client.get("/livez", headers={"X-Request-ID": "x" * 500})
    assert insane.headers["x-request-id"] != "x" * 500
    assert len(insane.headers["x-request-id"]) == 32
    fresh = await client.get("/livez")
    assert len(fresh.headers["x-request-id"]) == 32


async def test_unexpected_error_is_a_generic_500(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def __call__(self, actor: object, user_id: int, *, fresh: bool = False) -> None:
            raise RuntimeError("secret internals: /srv/app.py SELECT * FROM users")

    container.get_user.override(Broken())
    async with serve(container, headers=bearer(token())) as service:
        response = await service.client.get("/users/1")
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    logged = [
        r
        for r in caplog.records
        if r.name == "users_service.errors" and getattr(r, "request_id", None) == body["request_id"]
    ]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "secret internals" in str(logged[0].exc_info[1])


async def test_an_unavailable_database_is_logged_with_its_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client sees a 503 and nothing inside; the log has what the driver said."""
    from dependency_injector import providers
    from pydantic import SecretStr

    from tests.support.app import serve
    from tests.support.settings import IsolatedSettings
    from tests.support.tokens import SECRET, bearer, token
    from users_service.application.errors import StorageUnavailable
    from users_service.entrypoints.container import container_for

    class Down:
        async def __call__(self, *_: object, **__: object) -> None:
            try:
                raise ConnectionRefusedError("connect call failed ('10.0.0.9', 5432)")
            except ConnectionRefusedError as exc:
                raise StorageUnavailable("The database did not answer.", "unreachable") from exc

    container = container_for(
        IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    )
    container.get_user.override(providers.Object(Down()))
    with caplog.at_level(logging.WARNING, logger="users_service.errors"):
        async with serve(container, headers=bearer(token())) as service:
            response = await service.client.get("/users/1")
    assert response.status_code == 503
    assert "10.0.0.9" not in response.text
    logged = "\n".join(caplog.text.splitlines())
    assert "ConnectionRefusedError: connect call failed ('10.0.0.9', 5432)" in logged
    assert "NoneType: None" not in logged
