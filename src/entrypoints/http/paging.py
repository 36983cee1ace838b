"""A keyset page as the lists answer it: `{"items", "next_cursor"}`, and a `Link` to the
next page when there is one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from users_service.entrypoints.http.representation import json_response
from users_service.entrypoints.http.services import http_services


def page_response(
    request: Request, items: list[dict[str, Any]], next_after_id: int | None, query_key: str
) -> Response:
    """`next_after_id`: where the next page starts (None on the last page); the cursor
    that names it is bound to `query_key`."""
    next_cursor = None
    headers: dict[str, str] = {}
    if next_after_id is not None:
        next_cursor = http_services(request).cursors.encode(next_after_id, query_key)
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response({"items": items, "next_cursor": next_cursor}, headers=headers)
