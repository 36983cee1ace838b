"""The User entity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from users_service.domain.values import Email, Name


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user that has passed validation but has no id yet: storage assigns it."""

    email: Email
    name: Name


@dataclass(frozen=True, slots=True)
class User:
    """A stored user. Immutable: a change makes a new value (`UserChanges.applied_to`)."""

    id: int
    email: Email
    name: Name
    created_at: datetime
    updated_at: datetime
    version: int = 1


def changed_fields(before: User, after: User) -> tuple[str, ...]:
    """The fields whose stored value differs between two copies of a user, in order."""
    return tuple(
        field
        for field, old, new in (
            ("email", before.email.value, after.email.value),
            ("name", before.name.value, after.name.value),
        )
        if old != new
    )


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A merge patch: `None` means "leave as it is"."""

    email: Email | None = None
    name: Name | None = None

    @property
    def empty(self) -> bool:
        return self.email is None and self.name is None

    def differs_from(self, user: User) -> bool:
        """True when applying the patch would change what is stored."""
        return (self.email is not None and self.email != user.email) or (
            self.name is not None and self.name != user.name
        )

    def applied_to(self, user: User, now: datetime) -> User:
        return User(
            id=user.id,
            email=self.email or user.email,
            name=self.name or user.name,
            created_at=user.created_at,
            updated_at=now,
            version=user.version + 1,
        )
