"""A user as the service shows it, to API callers and to event consumers alike."""

from __future__ import annotations

from typing import Any

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
