from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.http import assert_problem
from tests.support.settings import IsolatedSettings
from tests.support.timing import bound
from tests.support.tokens import SECRET, bearer, token
from users_service.entrypoints.container import Container

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
ANSWER_WITHIN = 5.0  # seconds: the contract's "503 within a few seconds, never a hang"


async def test_probes(client: httpx.AsyncClient) -> None:
    live = await client.get("/livez")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200


@pytest.fixture
async def down_client() -> AsyncIterator[httpx.AsyncClient]:
    settings = IsolatedSettings(
        database_url=UNREACHABLE, db_connect_timeout=1, auth_jwt_secret=SecretStr(SECRET)
    )
    async with serve(settings, headers=bearer(token()), empty=False) as service:
        yield service.client


@pytest.mark.contract_bound
async def test_database_down_gives_503_never_500(down_client: httpx.AsyncClient) -> None:
    assert (await down_client.get("/livez")).status_code == 200
    ready = await down_client.get("/readyz")
    assert_problem(ready, 503, "service_unavailable")
    for method, path, body in [
        ("GET", "/users/1", None),
        ("GET", "/users", None),
        ("POST", "/users", {"email": "a@example.com", "name": "A"}),
        ("PATCH", "/users/1", {"name": "B"}),
        ("DELETE", "/users/1", None),
        ("POST", "/users/batch", {"users": [{"email": "a@example.com", "name": "A"}]}),
    ]:
        started = time.monotonic()
        response = await down_client.request(method, path, json=body)
        assert time.monotonic() - started < bound(ANSWER_WITHIN), (method, path)
        problem = assert_problem(response, 503, "service_unavailable")
        assert response.headers["retry-after"].isdigit()
        assert "asyncpg" not in response.text
        assert "127.0.0.1" not in problem["detail"]


async def test_readyz_is_503_while_draining(container: Container) -> None:
    async with serve(container) as service:
        client = service.client
        assert (await client.get("/readyz")).status_code == 200
        container.lifecycle().draining = True
        assert_problem(await client.get("/readyz"), 503, "service_unavailable")
        assert (await client.get("/livez")).status_code == 200


async def test_docs_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_openapi_documents_every_operation(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {
        op["operationId"]: (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == {
        "create_user",
        "create_users_batch",
        "get_user",
        "list_users",
        "update_user",
        "delete_user",
        "create_group",
        "get_group",
        "list_groups",
        "update_group",
        "delete_group",
        "list_members",
        "add_member",
        "remove_member",
        "change_members",
        "list_user_groups",
        "livez",
        "readyz",
    }
    expected = {
        "create_user": {"201", "409", "413", "415", "422", "500", "503"},
        "create_users_batch": {"201", "409", "413", "415", "422", "500", "503"},
        "get_user": {"200", "304", "404", "422", "500", "503"},
        "list_users": {"200", "400", "422", "500", "503"},
        "update_user": {"200", "404", "409", "412", "413", "415", "422", "500", "503"},
        "delete_user": {"204", "404", "412", "422", "500", "503"},
        "create_group": {"201", "409", "413", "415", "422", "500", "503"},
        "get_group": {"200", "304", "404", "422", "500", "503"},
        "list_groups": {"200", "400", "422", "500", "503"},
        "update_group": {"200", "404", "409", "412", "413", "415", "422", "500", "503"},
        "delete_group": {"204", "404", "412", "422", "500", "503"},
        "list_members": {"200", "400", "404", "422", "500", "503"},
        "add_member": {"204", "404", "412", "422", "500", "503"},
        "remove_member": {"204", "404", "412", "422", "500", "503"},
        "change_members": {"200", "404", "412", "413", "415", "422", "500", "503"},
        "list_user_groups": {"200", "400", "404", "422", "500", "503"},
    }
    for operation_id, statuses in expected.items():
        responses = operations[operation_id][2]["responses"]
        assert statuses <= set(responses), operation_id
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"]
    assert "Problem" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["UserCreate"]["examples"]
    assert "/users/{user_id}/" not in schema["paths"]
