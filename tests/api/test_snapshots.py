"""Snapshots of what clients see: the OpenAPI document and one problem body per kind of
error. A refactor must leave both unchanged; a deliberate change updates the files with
`pytest tests/api/test_snapshots.py --update-snapshots` and shows in review as a diff."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, token

SNAPSHOTS = Path(__file__).parent / "snapshots"
ADMIN = bearer(token())
READER = bearer(token(scope="users:read"))
JSON = {"content-type": "application/json"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    async with serve(settings, headers=ADMIN) as service:
        yield service.client


def _check(name: str, actual: Any, update: bool) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if update:
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path.name}: run with --update-snapshots"
    assert json.loads(path.read_text()) == actual, f"{path.name} differs from the snapshot"


async def test_openapi_document(client: httpx.AsyncClient, update_snapshots: bool) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    _check("openapi", response.json(), update_snapshots)


def _cases(user_id: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, method, path, request options): one of each problem the API answers."""
    users = f"/users/{user_id}"
    return [
        ("unknown_route", "GET", "/nowhere", {}),
        ("method_not_allowed", "PUT", "/users", {}),
        ("malformed_json", "POST", "/users", {"content": b"{", "headers": JSON}),
        (
            "unsupported_media_type",
            "POST",
            "/users",
            {"content": b"x", "headers": {"content-type": "text/plain"}},
        ),
        ("missing_token", "GET", users, {"headers": {"authorization": ""}}),
        ("insufficient_scope", "DELETE", users, {"headers": READER}),
        ("invalid_email", "POST", "/users", {"json": {"email": "nope", "name": "A"}}),
        ("invalid_name", "POST", "/users", {"json": {"email": "a@example.com", "name": " "}}),
        (
            "control_character",
            "POST",
            "/users",
            {"json": {"email": "b@example.com", "name": "a\u0007"}},
        ),
        (
            "unknown_field",
            "POST",
            "/users",
            {"json": {"email": "c@example.com", "name": "C", "x": 1}},
        ),
        ("email_taken", "POST", "/users", {"json": {"email": "Ada@example.com", "name": "A"}}),
        ("user_not_found", "GET", "/users/999999", {}),
        ("stale_if_match", "PATCH", users, {"json": {"name": "B"}, "headers": {"if-match": '"7"'}}),
        ("bad_cursor", "GET", "/users?cursor=garbage", {}),
        ("bad_limit", "GET", "/users?limit=0", {}),
        (
            "batch_conflicts",
            "POST",
            "/users/batch",
            {
                "json": {
                    "users": [
                        {"email": "ada@example.com", "name": "A"},
                        {"email": "x@example.com", "name": "X"},
                        {"email": "X@example.com", "name": "X"},
                    ]
                }
            },
        ),
        (
            "batch_invalid_item",
            "POST",
            "/users/batch",
            {
                "json": {
                    "users": [
                        {"email": "ok@example.com", "name": "A"},
                        {"email": "bad", "name": "B"},
                    ]
                }
            },
        ),
        (
            "bad_idempotency_key",
            "POST",
            "/users",
            {"json": {"email": "d@example.com", "name": "D"}, "headers": {"idempotency-key": ""}},
        ),
        (
            "body_too_large",
            "POST",
            "/users",
            {"content": b"{" + b" " * (1024 * 1024 + 1) + b"}", "headers": JSON},
        ),
    ]


async def test_problem_bodies(client: httpx.AsyncClient, update_snapshots: bool) -> None:
    created = await client.post("/users", json={"email": "ada@example.com", "name": "Ada"})
    assert created.status_code == 201
    seen: dict[str, Any] = {}
    for name, method, path, options in _cases(created.json()["id"]):
        response = await client.request(method, path, **options)
        assert response.status_code >= 400, name
        body = response.json()
        assert body.pop("request_id") == response.headers["x-request-id"]
        kept = ("allow", "etag", "retry-after", "www-authenticate", "content-type")
        seen[name] = {
            "status": response.status_code,
            "headers": {k: v for k, v in response.headers.items() if k in kept},
            "body": body,
        }
    _check("problems", seen, update_snapshots)
