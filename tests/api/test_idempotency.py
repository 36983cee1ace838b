from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from dependency_injector import providers
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.http import assert_problem
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, token
from users_service.application.access import Principal
from users_service.application.idempotency_store import IdempotencyClaim
from users_service.application.users.register import RegisterUsers
from users_service.domain.user import User
from users_service.entrypoints.container import Container

ADA = {"email": "ada@example.com", "name": "Ada"}


async def test_repeat_replays_the_first_response(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-ada-1"}
    first = await client.post("/users", json=ADA, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/users", json=ADA, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "application/json"
    assert len((await client.get("/users")).json()["items"]) == 1


async def test_same_key_other_body_is_422(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k"}
    assert (await client.post("/users", json=ADA, headers=headers)).status_code == 201
    other = {"email": "bob@example.com", "name": "Bob"}
    response = await client.post("/users", json=other, headers=headers)
    assert_problem(response, 422, "idempotency_key_reused")
    assert len((await client.get("/users")).json()["items"]) == 1


async def test_refusals_are_replayed_too(client: httpx.AsyncClient) -> None:
    await client.post("/users", json=ADA)
    headers = {"Idempotency-Key": "dup"}
    first = await client.post("/users", json=ADA, headers=headers)
    assert_problem(first, 409, "email_already_registered")
    again = await client.post("/users", json=ADA, headers=headers)
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["conflicts"] == first.json()["conflicts"]


async def test_batch_replay(client: httpx.AsyncClient) -> None:
    body = {"users": [ADA, {"email": "bob@example.com", "name": "Bob"}]}
    headers = {"Idempotency-Key": "batch-1"}
    first = await client.post("/users/batch", json=body, headers=headers)
    again = await client.post("/users/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert len((await client.get("/users")).json()["items"]) == 2


async def test_key_for_single_create_differs_from_batch(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert (await client.post("/users", json=ADA, headers=headers)).status_code == 201
    batch = await client.post("/users/batch", json={"users": [ADA]}, headers=headers)
    assert_problem(batch, 422, "idempotency_key_reused")


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\there", "é"])
async def test_malformed_key_is_422(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        "/users", json=ADA, headers={"Idempotency-Key": key.encode("utf-8")}
    )
    assert_problem(response, 422, "validation_failed")
    assert [e["loc"] for e in response.json()["errors"]] == [["header", "Idempotency-Key"]]
    assert (await client.get("/users")).json()["items"] == []


class _Gated:
    """Wraps the real use case; holds each call until released."""

    def __init__(self, inner: RegisterUsers) -> None:
        self.inner = inner
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def one(
        self, actor: Principal, email: str, name: str, *, claim: IdempotencyClaim | None = None
    ) -> User:
        self.entered.set()
        await self.release.wait()
        return await self.inner.one(actor, email, name, claim=claim)


async def test_repeat_while_in_flight_is_409(container: Container) -> None:
    gated = _Gated(container.register_users())
    container.register_users.override(providers.Object(gated))
    headers = {"Idempotency-Key": "slow"}
    async with serve(container, headers=bearer(token())) as service:
        client = service.client
        first = asyncio.create_task(client.post("/users", json=ADA, headers=headers))
        await asyncio.wait_for(gated.entered.wait(), 5)
        repeat = await client.post("/users", json=ADA, headers=headers)
        assert_problem(repeat, 409, "request_in_flight")
        assert repeat.headers["retry-after"].isdigit()
        gated.release.set()
        assert (await first).status_code == 201
        replay = await client.post("/users", json=ADA, headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"


@pytest.fixture
async def two_instances(postgres_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two app instances (two containers, two engines) sharing one database."""
    settings = IsolatedSettings(database_url=postgres_url, auth_jwt_secret=SecretStr(SECRET))
    async with AsyncExitStack() as stack:
        services = [
            await stack.enter_async_context(serve(settings, headers=bearer(token())))
            for _ in range(2)
        ]
        yield [service.client for service in services]


@pytest.mark.postgres
async def test_replay_works_across_instances(two_instances: list[httpx.AsyncClient]) -> None:
    first_app, second_app = two_instances
    headers = {"Idempotency-Key": "across"}
    first = await first_app.post("/users", json=ADA, headers=headers)
    assert first.status_code == 201
    again = await second_app.post("/users", json=ADA, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
