"""The outbox in an `InMemoryStore`'s tables: only a relay in the same process sees it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from users_service.adapters.memory.store import Tables
from users_service.application.events import Backlog, ChangeEvent


class InMemoryOutbox:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def pending(self, limit: int) -> Sequence[ChangeEvent]:
        waiting = (entry for entry, published in self._tables.outbox.values() if published is None)
        return sorted(waiting, key=lambda e: e.position)[:limit]

    async def mark_published(self, positions: Sequence[int], now: datetime) -> None:
        outbox = self._tables.outbox
        for position in positions:
            if position in outbox:
                outbox[position] = (outbox[position][0], now)

    async def purge(self, published_before: datetime) -> int:
        outbox = self._tables.outbox
        old = [
            p for p, (_, published) in outbox.items() if published and published < published_before
        ]
        for position in old:
            del outbox[position]
        return len(old)

    async def backlog(self) -> Backlog:
        waiting = [entry for entry, published in self._tables.outbox.values() if published is None]
        oldest = min((e.occurred_at for e in waiting), default=None)
        return Backlog(len(waiting), oldest)

    async def try_lead(self) -> bool:
        return True  # a writing unit holds the store's write lock: one relay at a time
