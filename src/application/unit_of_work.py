from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

from users_service.application.errors import ReplicaUnavailable
from users_service.application.events import EventContext, Outbox
from users_service.application.group_repository import GroupRepository
from users_service.application.idempotency_store import IdempotencyRepository
from users_service.application.repository import Kept, PageQuery, UserRepository
from users_service.domain.user import NewUser, User, UserChanges

T = TypeVar("T")


class UnitOfWork(Protocol):
    """One transaction. `async with uow:` opens it; `await uow.commit()` makes it
    durable; leaving the block without a commit rolls everything back.

    Infrastructure failures surface as `StorageUnavailable`.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def groups(self) -> GroupRepository:
        """Groups and memberships (not in an insert-only unit)."""
        ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work, of one of three kinds:

    - the default: one transaction, as `UnitOfWork` says;
    - `read_only=True`: reads only; storage may skip the transaction (BEGIN and COMMIT:
      two round trips);
    - `insert_only=True`: reads and exactly one `users.insert_new` (or
      `insert_imported`), nothing else. That
      insert is one statement, atomic by itself, so storage may run it outside any
      transaction, and every adapter gives it the same meaning: **it stands once it
      returns**, whether or not `commit()` follows, and leaving the block (even with an
      error) does not undo it. Should it land after its caller has gone (a cancelled
      request), it overwrites nothing: a retry sees a conflict. Any other write in such a
      unit raises `InsertOnlyViolation`. Updates and deletes keep their transaction, so
      that a cancelled one can never land late over a newer write.

    A read-only unit may also say `replica=True`: storage may then answer from a read
    replica, at most its configured lag behind (storage without replicas ignores it). Such
    a unit may fail with `ReplicaUnavailable`, and the read may then be asked again without
    it (`read_preferring_replica`). A replica may miss what was just written: a caller that
    finds nothing there asks the primary before concluding.

    `snapshot=True`: a read-only unit whose reads all see one consistent state of the
    storage, however many statements they take (REPEATABLE READ on PostgreSQL): an export.
    """

    def __call__(
        self,
        *,
        read_only: bool = False,
        insert_only: bool = False,
        replica: bool = False,
        snapshot: bool = False,
    ) -> UnitOfWork: ...


class InsertOnlyViolation(RuntimeError):
    """A second write in an insert-only unit of work: a bug in the caller."""


class InsertOnlyUsers:
    """The `UserRepository` of an insert-only unit: reads, and one `insert_new`."""

    __slots__ = ("_inserted", "_users")

    def __init__(self, users: UserRepository) -> None:
        self._users = users
        self._inserted = False

    async def get(self, user_id: int) -> User | None:
        return await self._users.get(user_id)

    async def page(self, query: PageQuery) -> Sequence[User]:
        return await self._users.page(query)

    async def insert_new(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[User | None]:
        if self._inserted:
            raise InsertOnlyViolation("an insert-only unit of work inserts once")
        self._inserted = True
        return await self._users.insert_new(users, now, event, kept)

    async def insert_imported(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[bool]:
        if self._inserted:
            raise InsertOnlyViolation("an insert-only unit of work inserts once")
        self._inserted = True
        return await self._users.insert_imported(users, now, event, kept)

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> User | None:
        raise InsertOnlyViolation("an insert-only unit of work does not update")

    async def delete(
        self,
        user_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
        *,
        now: datetime,
    ) -> bool:
        raise InsertOnlyViolation("an insert-only unit of work does not delete")


async def read_preferring_replica(
    uow: UnitOfWorkFactory,
    read: Callable[[UnitOfWork], Awaitable[T]],
    *,
    fresh: bool,
    found: Callable[[T], bool],
) -> T:
    """`read` on a replica when allowed (not `fresh`), else, or when the replica fails or
    finds nothing (`found` says), on the primary."""
    if not fresh:
        try:
            async with uow(read_only=True, replica=True) as unit:
                result = await read(unit)
            if found(result):
                return result
        except ReplicaUnavailable:
            pass
    async with uow(read_only=True) as unit:
        return await read(unit)
