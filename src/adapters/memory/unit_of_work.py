from __future__ import annotations

from types import TracebackType
from typing import Self

from users_service.adapters.memory.groups import InMemoryGroupRepository
from users_service.adapters.memory.idempotency import InMemoryIdempotencyRepository
from users_service.adapters.memory.outbox import InMemoryOutbox
from users_service.adapters.memory.repository import InMemoryUserRepository
from users_service.adapters.memory.store import InMemoryStore, Tables
from users_service.application.repository import UserRepository
from users_service.application.unit_of_work import InsertOnlyUsers, InsertOnlyViolation


class InMemoryUnitOfWork:
    """A transaction over an `InMemoryStore`.

    A writer works on a private copy of the committed tables under the store's write
    lock, so its changes are invisible until commit and vanish on rollback. A reader
    sees the committed tables as they were when it began.
    """

    def __init__(
        self, store: InMemoryStore, *, read_only: bool = False, insert_only: bool = False
    ) -> None:
        self._store = store
        self._read_only = read_only
        self._insert_only = insert_only
        self._tables: Tables | None = None
        self._users: UserRepository | None = None
        self._idempotency: InMemoryIdempotencyRepository | None = None

    @property
    def groups(self) -> InMemoryGroupRepository:
        if self._tables is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work has no groups")
        return InMemoryGroupRepository(self._store, self._tables)

    @property
    def users(self) -> UserRepository:
        if self._users is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return self._users

    @property
    def idempotency(self) -> InMemoryIdempotencyRepository:
        if self._idempotency is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work writes no idempotency record")
        return self._idempotency

    @property
    def outbox(self) -> InMemoryOutbox:
        if self._tables is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work has no outbox")
        return InMemoryOutbox(self._tables)

    def _open(self, tables: Tables) -> None:
        self._tables = tables
        users = InMemoryUserRepository(self._store, tables)
        self._users = InsertOnlyUsers(users) if self._insert_only else users
        self._idempotency = InMemoryIdempotencyRepository(tables)

    async def __aenter__(self) -> Self:
        if self._read_only:
            self._open(self._store.committed)
        else:
            await self._store.write_lock.acquire()
            self._open(self._store.committed.copy())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._insert_only and self._tables is not None:
            self._store.committed = self._tables  # the insert stands, commit or not
        self._tables = None
        self._users = None
        self._idempotency = None
        if not self._read_only:
            self._store.write_lock.release()

    async def commit(self) -> None:
        if self._tables is None:
            raise RuntimeError("commit outside the unit of work")
        if not self._read_only:
            self._store.committed = self._tables
            self._open(self._tables.copy())


class InMemoryUnitOfWorkFactory:
    """Makes units of work over one shared store."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()

    def __call__(
        self,
        *,
        read_only: bool = False,
        insert_only: bool = False,
        replica: bool = False,
        snapshot: bool = False,
    ) -> InMemoryUnitOfWork:
        # One store and no replicas: `replica` changes nothing. A read-only unit reads the
        # committed tables as they were when it began: a snapshot already.
        return InMemoryUnitOfWork(
            self.store, read_only=read_only or snapshot, insert_only=insert_only
        )
