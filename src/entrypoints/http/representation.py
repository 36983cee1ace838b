"""Users and groups as JSON, serialised once with orjson (no second validation pass)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from users_service.application.groups.reading import UserGroups
from users_service.application.representation import group_dict, group_reference, user_dict
from users_service.domain.group import Group
from users_service.domain.user import User

__all__ = [
    "etag",
    "group_dict",
    "group_response",
    "json_response",
    "user_dict",
    "user_response",
    "users_body",
    "with_groups",
]

_JSON_OPTIONS = orjson.OPT_UTC_Z


def etag(version: int) -> str:
    return f'"{version}"'


def json_response(
    body: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body, option=_JSON_OPTIONS),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def user_response(
    user: User, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(
        user_dict(user),
        status_code=status_code,
        headers={"ETag": etag(user.version), **(headers or {})},
    )


def users_body(users: Sequence[User]) -> list[dict[str, Any]]:
    return [user_dict(u) for u in users]


def group_response(
    group: Group, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(
        group_dict(group),
        status_code=status_code,
        headers={"ETag": etag(group.version), **(headers or {})},
    )


def with_groups(user: User, groups: UserGroups) -> dict[str, Any]:
    """A user as `expand=groups` shows it."""
    return {
        **user_dict(user),
        "groups": [group_reference(g.id, g.name) for g in groups.groups],
        "groups_complete": groups.complete,
    }
