"""Helpers for the HTTP contract tests: a user created through the API, and a problem
response checked field by field."""

from __future__ import annotations

from typing import Any

import httpx


async def create(client: httpx.AsyncClient, email: str, name: str = "Someone") -> dict[str, Any]:
    response = await client.post("/users", json={"email": email, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].startswith("https://users.example/problems/")
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body
