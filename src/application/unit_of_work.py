from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from application.repository import UserRepository

if TYPE_CHECKING:
    from application.idempotency import IdempotencyRepository


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
    """Makes a fresh unit of work. `read_only=True` lets storage skip the transaction."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...
