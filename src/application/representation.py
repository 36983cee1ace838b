"""A user or a group as the service shows it, to API callers and to event consumers alike."""

from __future__ import annotations

from typing import Any

from users_service.domain.group import Group
from users_service.domain.user import User


def user_dict(user: User) -> dict[str, Any]:
    """Timestamps stay datetimes: each edge encodes them as RFC 3339 UTC (`...Z`)."""
    return {
        "id": user.id,
        "email": user.email.value,
        "name": user.name.value,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "version": user.version,
    }


def group_dict(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name.value,
        "description": group.description.value if group.description is not None else None,
        "member_count": group.member_count,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
        "version": group.version,
    }


def group_reference(group_id: int, name: str) -> dict[str, Any]:
    """A group as a user's `groups` list shows it (`expand=groups`)."""
    return {"id": group_id, "name": name}
