"""Optional request headers, documented in OpenAPI without being FastAPI parameters."""

from __future__ import annotations

from typing import Any


def optional_header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """`openapi_extra` documenting a header the route reads from the request itself.

    Optional headers are read that way, not declared as FastAPI parameters: FastAPI
    resolves and validates every declared parameter on every request, for headers that
    most requests do not send (docs/performance.md).
    """
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }
    return {"parameters": [parameter]}


def all_headers(*docs: dict[str, Any]) -> dict[str, Any]:
    """Several `optional_header` documents as one `openapi_extra`."""
    return {"parameters": [p for doc in docs for p in doc["parameters"]]}
