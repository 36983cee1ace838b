"""`Cache-Control: no-cache` on a read: answer from the primary, never a replica."""

from __future__ import annotations

from starlette.requests import Request

from users_service.entrypoints.http.header_docs import optional_header

CACHE_CONTROL_DOC = optional_header(
    "Cache-Control",
    "`no-cache`: read from the primary database, never a read replica (docs/api.md, "
    "Reads from replicas)",
)


def wants_fresh(request: Request) -> bool:
    value = request.headers.get("cache-control")
    if value is None:
        return False
    return any(d.strip().lower() == "no-cache" for d in value.split(","))
