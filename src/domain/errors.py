"""Domain errors: what can go wrong with users and groups, independent of any transport.

    DomainError
    ├── InvalidValue             a value breaks an invariant (field, message)
    │   ├── InvalidEmail
    │   ├── InvalidName
    │   └── InvalidDescription
    ├── InvalidValues            several of them, every one listed
    ├── UserNotFound             no user has that id
    ├── GroupNotFound            no group has that id
    ├── EmailAlreadyRegistered   one or more emails are taken (every one is listed)
    ├── GroupNameTaken           another group has that name (case-insensitively)
    └── VersionMismatch          the caller's expected version is stale
        └── GroupVersionMismatch   ... of a group

The HTTP edge maps each class to one problem type; nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidValue(DomainError):
    """A value object refused its input."""

    def __init__(self, field: str, message: str, *, loc: Sequence[str | int] = ()) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.loc: tuple[str | int, ...] = tuple(loc) or (field,)

    def at(self, *prefix: str | int) -> InvalidValue:
        """The same error located under `prefix` (for example a batch item index)."""
        return type(self)(self.field, self.message, loc=(*prefix, *self.loc))


class InvalidEmail(InvalidValue):
    pass


class InvalidName(InvalidValue):
    pass


class InvalidDescription(InvalidValue):
    pass


class InvalidValues(DomainError):
    """Several values refused at once: each is listed (one request, one answer)."""

    def __init__(self, problems: Sequence[InvalidValue]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def refuse_all(problems: Sequence[InvalidValue]) -> None:
    """Raise what `problems` holds: nothing, the one error, or all of them."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidValues(problems)


class UserNotFound(DomainError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"No user has id {user_id}.")
        self.user_id = user_id


class GroupNotFound(DomainError):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"No group has id {group_id}.")
        self.group_id = group_id


class GroupNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"A group named '{name}' already exists.")
        self.name = name


@dataclass(frozen=True, slots=True)
class EmailConflict:
    """One taken email; `index` is its position in the request (0 for single writes)."""

    index: int
    email: str


class EmailAlreadyRegistered(DomainError):
    def __init__(self, conflicts: Sequence[EmailConflict]) -> None:
        self.conflicts = tuple(conflicts)
        emails = ", ".join(f"'{c.email}'" for c in self.conflicts)
        if len(self.conflicts) == 1:
            message = f"A user with email {emails} already exists."
        else:
            message = f"Users with emails {emails} already exist or repeat in the request."
        super().__init__(message)

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(c.email for c in self.conflicts)


class VersionMismatch(DomainError):
    """`subject_id` is the user's (or, for a group's, the group's) id."""

    resource = "User"

    def __init__(self, subject_id: int, current_version: int) -> None:
        super().__init__(
            f"{self.resource} {subject_id} is at version {current_version}, "
            "which does not match the expected version."
        )
        self.subject_id = subject_id
        self.current_version = current_version


class GroupVersionMismatch(VersionMismatch):
    resource = "Group"
