from __future__ import annotations

from datetime import datetime

import orjson

from users_service.adapters.sqlalchemy import statements
from users_service.adapters.sqlalchemy.executors import Executor
from users_service.application.idempotency_store import IdempotencyRecord, StoredResponse


class SqlAlchemyIdempotencyRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor
        self._claim = statements.claim_key(executor.dialect_name)

    async def claim(
        self, scope: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> bool:
        values = {
            "k_scope": scope,
            "k_key": key,
            "new_fingerprint": fingerprint,
            "now": now,
            "new_expires_at": expires_at,
        }
        return bool(await self._run.rows(self._claim, values))

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        rows = await self._run.rows(statements.FIND_KEY, {"k_scope": scope, "k_key": key})
        if not rows:
            return None
        fingerprint, status, body, headers, started_at, expires_at = rows[0]
        response = None
        if status is not None:
            pairs = tuple((str(name), str(value)) for name, value in orjson.loads(headers or "[]"))
            response = StoredResponse(status, bytes(body or b""), pairs)
        return IdempotencyRecord(fingerprint, response, started_at, expires_at)

    async def restart(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> bool:
        params = {
            "k_scope": scope,
            "k_key": key,
            "new_fingerprint": fingerprint,
            "now": now,
            "new_expires_at": expires_at,
            "stale_before": stale_before,
        }
        return await self._run.rowcount(statements.RESTART_KEY, params) > 0

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        params = {
            "k_scope": scope,
            "k_key": key,
            "new_status": response.status,
            "new_body": response.body,
            "new_headers": orjson.dumps(response.headers).decode(),
        }
        await self._run.rowcount(statements.COMPLETE_KEY, params)

    async def release(self, scope: str, key: str) -> None:
        await self._run.rowcount(statements.RELEASE_KEY, {"k_scope": scope, "k_key": key})

    async def purge(self, now: datetime) -> int:
        return await self._run.rowcount(statements.PURGE_KEYS, {"now": now})
