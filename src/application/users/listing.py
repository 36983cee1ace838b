from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from users_service.application.access import READ, Principal, require
from users_service.application.emails import EmailSyntax
from users_service.application.repository import PageQuery
from users_service.application.unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    read_preferring_replica,
)
from users_service.domain.errors import InvalidValue
from users_service.domain.user import User

MAX_PAGE_SIZE = 200
MAX_IDS_FILTER = 200


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[User]
    next_after_id: int | None
    """Where the next page starts, or None on the last page."""


class ListUsers:
    """A keyset page of users, optionally filtered by email or by ids."""

    def __init__(self, uow: UnitOfWorkFactory, emails: EmailSyntax) -> None:
        self._uow = uow
        self._emails = emails

    async def __call__(
        self,
        actor: Principal,
        *,
        limit: int = 50,
        after_id: int | None = None,
        descending: bool = False,
        email: str | None = None,
        ids: Sequence[int] | None = None,
        fresh: bool = False,
    ) -> Page:
        """`fresh`: from the primary, never a replica."""
        require(actor, READ)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidValue("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
        if ids is not None and not 1 <= len(ids) <= MAX_IDS_FILTER:
            raise InvalidValue("id", f"must list 1 to {MAX_IDS_FILTER} ids")
        query = PageQuery(
            limit=limit + 1,  # one extra row tells whether another page follows
            after_id=after_id,
            descending=descending,
            email_key=self._emails.parse(email).key if email is not None else None,
            ids=tuple(sorted(set(ids))) if ids is not None else None,
        )

        async def read(uow: UnitOfWork) -> Sequence[User]:
            return await uow.users.page(query)

        rows = await read_preferring_replica(self._uow, read, fresh=fresh, found=lambda _: True)
        if len(rows) > limit:
            items = rows[:limit]
            return Page(items=items, next_after_id=items[-1].id)
        return Page(items=rows, next_after_id=None)
