"""Export users: every user (or those the list filters keep), in id order, streamed by
keyset pages from one consistent snapshot, so that a long export neither holds them all
in memory nor mixes states (a user changed mid-export appears as it was at the start)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from users_service.application.access import READ, Principal, require
from users_service.application.emails import EmailSyntax
from users_service.application.repository import PageQuery
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.user import User

PAGE = 1000


class ExportUsers:
    def __init__(self, uow: UnitOfWorkFactory, emails: EmailSyntax, page: int = PAGE) -> None:
        self._uow = uow
        self._emails = emails
        self._page = page

    async def __call__(
        self,
        actor: Principal,
        *,
        email: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> AsyncIterator[User]:
        """`email`: the user with that address (case-insensitively), as the list's filter;
        `ids`: those users. Raises `InvalidEmail` for an address the API would refuse."""
        require(actor, READ)
        email_key = self._emails.parse(email).key if email is not None else None
        async with self._uow(read_only=True, snapshot=True) as unit:
            after: int | None = None
            while True:
                query = PageQuery(
                    limit=self._page,
                    after_id=after,
                    email_key=email_key,
                    ids=tuple(ids) if ids is not None else None,
                )
                page = await unit.users.page(query)
                for user in page:
                    yield user
                if len(page) < self._page:
                    return
                after = page[-1].id
