from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from users_service.adapters.memory.events import record
from users_service.adapters.memory.groups import leave_every_group
from users_service.adapters.memory.store import InMemoryStore, Tables
from users_service.application.events import ChangeKind, EventContext
from users_service.application.repository import Kept, PageQuery
from users_service.domain.errors import EmailAlreadyRegistered, EmailConflict
from users_service.domain.user import NewUser, User, UserChanges, changed_fields


class InMemoryUserRepository:
    """Users in a `Tables` snapshot. Users are immutable values, so stored ones are
    returned as they are."""

    def __init__(self, store: InMemoryStore, tables: Tables) -> None:
        self._store = store
        self._tables = tables

    async def get(self, user_id: int) -> User | None:
        return self._tables.users.get(user_id)

    async def page(self, query: PageQuery) -> Sequence[User]:
        candidates: Iterable[User]
        if query.ids is not None:
            candidates = (self._tables.users[i] for i in query.ids if i in self._tables.users)
        elif query.email_key is not None:
            found = self._tables.id_by_email_key.get(query.email_key)
            candidates = [self._tables.users[found]] if found is not None else []
        else:
            candidates = self._tables.users.values()
        ordered = sorted(candidates, key=lambda u: u.id, reverse=query.descending)
        if query.email_key is not None:
            ordered = [u for u in ordered if u.email.key == query.email_key]
        if query.after_id is not None:
            after = query.after_id
            ordered = [u for u in ordered if (u.id < after if query.descending else u.id > after)]
        return ordered[: query.limit]

    def _record(
        self,
        kind: ChangeKind,
        user_id: int,
        version: int,
        user: User | None,
        event: EventContext,
        occurred_at: datetime,
        changed: tuple[str, ...] = (),
    ) -> None:
        record(
            self._store,
            self._tables,
            kind,
            user_id,
            version,
            event,
            occurred_at,
            user=user,
            changed=changed,
        )

    async def insert_new(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[User | None]:
        stored: list[User | None] = []
        for index, new in enumerate(users):
            keep = kept[index] if kept is not None else Kept()
            taken = keep.id is not None and keep.id in self._tables.users
            if taken or new.email.key in self._tables.id_by_email_key:
                stored.append(None)
                continue
            if keep.id is not None:
                self._store.advance_ids(keep.id)
            user = User(
                id=keep.id if keep.id is not None else self._store.next_id(),
                email=new.email,
                name=new.name,
                created_at=keep.created_at or now,
                updated_at=keep.updated_at or keep.created_at or now,
            )
            self._tables.users[user.id] = user
            self._tables.id_by_email_key[new.email.key] = user.id
            stored.append(user)
            if event is not None:
                self._record(ChangeKind.CREATED, user.id, user.version, user, event, now)
        return stored

    async def insert_imported(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[bool]:
        return [user is not None for user in await self.insert_new(users, now, event, kept)]

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> User | None:
        current = self._tables.users.get(user_id)
        if current is None or not changes.differs_from(current):
            return None
        if expected_versions is not None and current.version not in expected_versions:
            return None
        updated = changes.applied_to(current, now)
        if updated.email.key != current.email.key:
            owner = self._tables.id_by_email_key.get(updated.email.key)
            if owner is not None and owner != user_id:
                raise EmailAlreadyRegistered([EmailConflict(0, updated.email.value)])
            del self._tables.id_by_email_key[current.email.key]
            self._tables.id_by_email_key[updated.email.key] = user_id
        self._tables.users[user_id] = updated
        if event is not None:
            changed = changed_fields(current, updated)
            self._record(ChangeKind.UPDATED, user_id, updated.version, updated, event, now, changed)
        return updated

    async def delete(
        self,
        user_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
        *,
        now: datetime,
    ) -> bool:
        current = self._tables.users.get(user_id)
        if current is None:
            return False
        if expected_versions is not None and current.version not in expected_versions:
            return False
        leave_every_group(self._store, self._tables, user_id, now, event)
        del self._tables.users[user_id]
        del self._tables.id_by_email_key[current.email.key]
        if event is not None:
            self._record(
                ChangeKind.DELETED, user_id, current.version, None, event, event.time_of_deletion()
            )
        return True
