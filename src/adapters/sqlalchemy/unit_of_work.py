from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from users_service.adapters.sqlalchemy.errors import (
    is_missing_schema,
    is_transient,
    missing_schema,
    unavailable,
)
from users_service.adapters.sqlalchemy.executors import Executor
from users_service.adapters.sqlalchemy.groups import SqlAlchemyGroupRepository
from users_service.adapters.sqlalchemy.idempotency import SqlAlchemyIdempotencyRepository
from users_service.adapters.sqlalchemy.instrumentation import Instrumentation, instrumented
from users_service.adapters.sqlalchemy.outbox import SqlAlchemyOutbox
from users_service.adapters.sqlalchemy.replica import Replica
from users_service.adapters.sqlalchemy.repository import SqlAlchemyUserRepository
from users_service.adapters.sqlalchemy.sessions import Database, Session
from users_service.application.errors import ReplicaUnavailable
from users_service.application.repository import UserRepository
from users_service.application.unit_of_work import InsertOnlyUsers, InsertOnlyViolation


class Waiting:
    """Units of work waiting for a connection from one database's pool (the metrics read
    it: the pools keep no public count of their own)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


async def _open_counted(
    waiting: Waiting,
    database: Database,
    read_only: bool,
    insert_only: bool,
    snapshot: bool = False,
) -> Session:
    waiting.count += 1
    try:
        return await database.session(
            read_only=read_only, insert_only=insert_only, snapshot=snapshot
        )
    finally:
        waiting.count -= 1


class SqlAlchemyUnitOfWork:
    """One pooled connection and its transaction; driver failures that mean
    "unavailable" leave as `StorageUnavailable`."""

    def __init__(
        self,
        database: Database,
        *,
        read_only: bool = False,
        insert_only: bool = False,
        snapshot: bool = False,
        replica: Replica | None = None,
        instrumentation: Instrumentation | None = None,
        waiting: tuple[Waiting, Waiting] | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._instrumentation = instrumentation
        self._waiting = waiting or (Waiting(), Waiting())  # (primary, replica)
        self._database = database
        self._replica = replica  # a read-only unit that may run there
        self._on_replica = False
        self._read_only = read_only
        self._insert_only = insert_only
        self._session: Session | None = None
        self._insert_only_users: InsertOnlyUsers | None = None

    def _executor(self) -> Executor:
        return instrumented(self._open_session().executor, self._instrumentation)

    @property
    def users(self) -> UserRepository:
        users = SqlAlchemyUserRepository(self._executor())
        if not self._insert_only:
            return users
        if self._insert_only_users is None:
            self._insert_only_users = InsertOnlyUsers(users)
        return self._insert_only_users

    @property
    def groups(self) -> SqlAlchemyGroupRepository:
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work has no groups")
        return SqlAlchemyGroupRepository(self._executor())

    @property
    def idempotency(self) -> SqlAlchemyIdempotencyRepository:
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work writes no idempotency record")
        return SqlAlchemyIdempotencyRepository(self._executor())

    @property
    def outbox(self) -> SqlAlchemyOutbox:
        if self._insert_only:
            raise InsertOnlyViolation("an insert-only unit of work has no outbox")
        return SqlAlchemyOutbox(self._executor())

    def _open_session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        replica = self._replica
        primary_waiting, replica_waiting = self._waiting
        if replica is not None and await replica.usable():
            try:
                self._session = await _open_counted(replica_waiting, replica.database, True, False)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                replica.failed()  # skipped until its next measure; the primary answers
            else:
                self._on_replica = True
                return self
        try:
            self._session = await _open_counted(
                primary_waiting,
                self._database,
                self._read_only,
                self._insert_only,
                self._snapshot,
            )
        except Exception as exc:
            if is_transient(exc):
                raise unavailable(exc) from exc
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            failed = exc is not None and (
                is_transient(exc) or isinstance(exc, asyncio.CancelledError)
            )
            try:
                if self._insert_only and not failed:
                    # The insert stands, commit or not (a no-op where it ran on its own).
                    await session.commit()
            finally:
                await session.close(failed)  # shielded where it must finish (sessions.py)
        if exc is not None and is_missing_schema(exc):
            raise missing_schema() from exc
        if exc is not None and is_transient(exc):
            if self._on_replica and self._replica is not None:
                self._replica.failed()
                raise ReplicaUnavailable("The read replica did not answer.") from exc
            raise unavailable(exc) from exc

    async def commit(self) -> None:
        await self._open_session().commit()


class SqlAlchemyUnitOfWorkFactory:
    """Units of work on `database` (and, for reads that allow it, on `replica`)."""

    def __init__(
        self,
        database: Database,
        *,
        replica: Replica | None = None,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        self.database = database
        self.replica = replica
        self.instrumentation = instrumentation
        # Read by the metrics: one integer each way per unit of work.
        self.waiting = (Waiting(), Waiting())

    def __call__(
        self,
        *,
        read_only: bool = False,
        insert_only: bool = False,
        replica: bool = False,
        snapshot: bool = False,
    ) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.database,
            read_only=read_only or snapshot,
            insert_only=insert_only,
            snapshot=snapshot,
            replica=self.replica if replica and read_only else None,
            instrumentation=self.instrumentation,
            waiting=self.waiting,
        )
