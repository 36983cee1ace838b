from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from users_service.adapters.memory.store import Tables
from users_service.application.idempotency_store import IdempotencyRecord, StoredResponse


class InMemoryIdempotencyRepository:
    def __init__(self, tables: Tables) -> None:
        self._records = tables.idempotency

    async def claim(
        self, scope: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> bool:
        if (scope, key) in self._records:
            return False
        self._records[scope, key] = IdempotencyRecord(fingerprint, None, now, expires_at)
        return True

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._records.get((scope, key))

    async def restart(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> bool:
        record = self._records.get((scope, key))
        if record is None:
            return False
        abandoned = record.response is None and record.started_at < stale_before
        if record.expires_at > now and not abandoned:
            return False
        self._records[scope, key] = IdempotencyRecord(fingerprint, None, now, expires_at)
        return True

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        record = self._records.get((scope, key))
        if record is not None:
            self._records[scope, key] = replace(record, response=response)

    async def release(self, scope: str, key: str) -> None:
        record = self._records.get((scope, key))
        if record is not None and record.response is None:
            del self._records[scope, key]

    async def purge(self, now: datetime) -> int:
        expired = [k for k, r in self._records.items() if r.expires_at <= now]
        for k in expired:
            del self._records[k]
        return len(expired)
