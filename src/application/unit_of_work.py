from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from users_service.application.repository import UserRepository

if TYPE_CHECKING:
    from users_service.application.idempotency import IdempotencyRepository


class UnitOfWork(Protocol):
    """One transaction. `async with uow:` opens it; `await uow.commit()` makes it
    durable; leaving the block without a commit rolls everything back.

    Infrastructure failures surface as `StorageUnavailable`.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work.

    Storage may skip the transaction (BEGIN and COMMIT: two round trips) when the work
    cannot need one: `read_only=True`, or `single_write=True` for work whose only write
    is one INSERT of new rows. Such a statement is atomic by itself, and should it land
    after its caller has gone (a cancelled request), it overwrites nothing: a retry sees
    a conflict. Updates and deletes keep their transaction, so that a cancelled one can
    never land late over a newer write. A single-write unit never issues a second write.
    """

    def __call__(self, *, read_only: bool = False, single_write: bool = False) -> UnitOfWork: ...
