"""`/metrics`: names and labels as OpenTelemetry's semantic conventions spell them for
Prometheus, bounded cardinality, application counters, and no personal data."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from dependency_injector import providers
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.http import create
from tests.support.scrape import Scrape
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, token
from users_service.application.errors import StorageUnavailable
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.settings import Settings

DURATION = "http_server_request_duration_seconds"


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def requests(page: Scrape, route: str, status: str, method: str = "GET") -> float:
    labels = {"http_route": route, "http_response_status_code": status}
    return page.value(f"{DURATION}_count", {**labels, "http_request_method": method})


async def test_http_server_duration_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    user = await create(client, "ada@example.com", "Ada Lovelace")
    for path in (f"/users/{user['id']}", f"/users/{user['id']}/"):  # the slash twin
        assert (await client.get(path)).status_code == 200
    assert (await client.get("/users/999999")).status_code == 404
    page = await scrape(client)
    assert requests(page, "/users/{user_id}", "200") == 2
    assert requests(page, "/users/{user_id}", "404") == 1
    assert requests(page, "/users", "201", "POST") == 1
    buckets = {
        labels["le"]
        for labels, _ in page.samples(f"{DURATION}_bucket")
        if labels["http_route"] == "/users/{user_id}"
    }
    assert buckets == {
        "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75",
        "1.0", "2.5", "5.0", "7.5", "10.0", "+Inf",
    }  # fmt: skip
    routes = page.label_values(f"{DURATION}_count", "http_route")
    assert not any(":int" in route or (route.endswith("/") and route != "/") for route in routes)
    assert page.value("http_server_active_requests") == 1  # this scrape itself


async def test_unknown_paths_share_one_route_value(client: httpx.AsyncClient) -> None:
    """A scanner's thousand paths are one series per status, not a thousand."""
    for i in range(50):
        assert (await client.get(f"/wp-admin/{i}/setup.php")).status_code == 404
    assert (await client.request("BREW", "/coffee")).status_code in (404, 405)
    page = await scrape(client)
    routes = page.label_values(f"{DURATION}_count", "http_route")
    assert "unmatched" in routes
    assert not any("wp-admin" in route or "coffee" in route for route in routes)
    assert requests(page, "unmatched", "404") == 50
    assert "_OTHER" in page.label_values(f"{DURATION}_count", "http_request_method")
    assert "BREW" not in page.text


async def test_5xx_carry_error_type(container: Container) -> None:
    class Down:
        async def __call__(self, *_args: Any, **_kwargs: Any) -> None:
            raise StorageUnavailable("The database did not answer.", "statement_timeout")

    container.get_user.override(providers.Object(Down()))
    async with serve(container, headers=bearer(token())) as service:
        assert (await service.client.get("/users/1")).status_code == 503
        assert (await service.client.get("/livez")).status_code == 200
        page = await scrape(service.client)
    assert page.value(f"{DURATION}_count", {"error_type": "503"}) == 1
    assert page.value("users_unavailable_total", {"cause": "statement_timeout"}) == 1
    series = page.samples(f"{DURATION}_count")
    assert {labels["http_response_status_code"] for labels, _ in series} >= {"200", "503"}
    for labels, _ in series:
        status = labels["http_response_status_code"]
        assert labels["error_type"] == (status if status.startswith("5") else "")


async def test_application_counters(client: httpx.AsyncClient) -> None:
    ada = await create(client, "ada@example.com")
    batch = await client.post(
        "/users/batch", json={"users": [{"email": f"b{i}@example.com", "name": "B"} for i in "12"]}
    )
    assert batch.status_code == 201
    assert (
        await client.post("/users", json={"email": "ADA@example.com", "name": "A"})
    ).status_code == 409
    patched = await client.patch(f"/users/{ada['id']}", json={"name": "Ada L."})
    assert patched.status_code == 200
    stale = await client.patch(
        f"/users/{ada['id']}", json={"name": "X"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await client.delete(f"/users/{ada['id']}")).status_code == 204
    key = {"Idempotency-Key": "metrics-1"}
    body = {"email": "idem@example.com", "name": "I"}
    assert (await client.post("/users", json=body, headers=key)).status_code == 201
    assert (await client.post("/users", json=body, headers=key)).status_code == 201  # replay
    page = await scrape(client)
    assert page.value("users_created_total") == 4  # the replay created nothing
    assert page.value("users_updated_total") == 1
    assert page.value("users_deleted_total") == 1
    assert page.value("users_conflicts_total", {"reason": "email_taken"}) == 1
    assert page.value("users_conflicts_total", {"reason": "version_mismatch"}) == 1
    assert page.value("users_idempotent_replays_total") == 1
    assert page.value("users_ready") == 1
    (build,) = page.samples("users_service_build_info")
    assert build[1] == 1
    assert set(build[0]) == {"version", "revision"}


async def test_auth_failures_by_reason_never_the_token(client: httpx.AsyncClient) -> None:
    expired = jwt.encode(
        {"sub": "x", "scope": "users:read", "exp": int(time.time()) - 3600}, SECRET, "HS256"
    )
    forged = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "another-secret" * 3, "HS256")
    read_only = token(scope="users:read")
    answers = [
        await client.get("/users", headers={"Authorization": ""}),
        await client.get("/users", headers=bearer(expired)),
        await client.get("/users", headers=bearer(forged)),
        await client.get("/users", headers=bearer("not.a.token")),
        await client.post(
            "/users", json={"email": "r@example.com", "name": "R"}, headers=bearer(read_only)
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 403]
    page = await scrape(client)
    reasons = {
        labels["reason"]: value for labels, value in page.samples("users_auth_failures_total")
    }
    assert reasons == {
        "missing": 1,
        "expired": 1,
        "bad_signature": 1,
        "malformed": 1,
        "insufficient_scope": 1,
    }
    for secret in (expired, forged, read_only):
        assert secret not in page.text
        assert secret.split(".")[1] not in page.text


async def test_no_personal_data(client: httpx.AsyncClient) -> None:
    await create(client, "grace.hopper@example.com", "Grace Brewster Hopper")
    await client.get("/users", params={"email": "grace.hopper@example.com"})
    text = (await scrape(client)).text
    for secret in ("grace", "Hopper", "example.com", "@"):
        assert secret not in text


@pytest.mark.postgres
async def test_database_pool_and_statement_metrics(postgres_url: str) -> None:
    settings = IsolatedSettings(
        database_url=postgres_url, auth_jwt_secret=SecretStr(SECRET), db_pool_size=7
    )
    async with serve(settings, headers=bearer(token())) as service:
        user = await create(service.client, "pool@example.com")
        assert (await service.client.get(f"/users/{user['id']}")).status_code == 200
        service.app.state.metrics.sample_pools()
        page = await scrape(service.client)
    assert page.value("db_client_connection_max", {"pool_name": "primary"}) == 7
    states = {
        labels["state"]: value
        for labels, value in page.samples("db_client_connection_count")
        if labels["pool_name"] == "primary"
    }
    assert set(states) == {"used", "idle"}
    assert states["idle"] >= 1
    assert states["used"] == 0
    assert page.value("db_client_connection_pending_requests", {"pool_name": "primary"}) == 0
    operations = page.label_values(
        "db_client_operation_duration_seconds_count", "db_operation_name"
    )
    assert {"SELECT users", "INSERT users"} <= operations


async def test_metrics_off_and_on_a_port_of_their_own(settings: Settings) -> None:
    for overrides in ({"metrics": False}, {"metrics_port": 9464}):
        changed = settings.model_copy(update=overrides)
        async with serve(container_for(changed), headers=bearer(token())) as service:
            assert (await service.client.get("/metrics")).status_code == 404
            assert (await service.client.get("/livez")).status_code == 200
