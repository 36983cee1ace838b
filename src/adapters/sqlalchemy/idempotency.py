from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import idempotency_keys as table
from application.idempotency import IdempotencyRecord, StoredResponse

_COLUMNS = (
    table.c.fingerprint,
    table.c.status,
    table.c.body,
    table.c.headers,
    table.c.started_at,
    table.c.expires_at,
)


class SqlAlchemyIdempotencyRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        dialect_insert = (
            postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        )
        self._insert = dialect_insert(table).on_conflict_do_nothing().returning(table.c.key)

    async def claim(
        self, scope: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> bool:
        values = {
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "started_at": now,
            "expires_at": expires_at,
        }
        result = await self._connection.execute(self._insert, values)
        return result.first() is not None

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        statement = select(*_COLUMNS).where(table.c.scope == scope, table.c.key == key)
        row = (await self._connection.execute(statement)).first()
        if row is None:
            return None
        fingerprint, status, body, headers, started_at, expires_at = row
        response = None
        if status is not None:
            pairs = tuple((str(name), str(value)) for name, value in headers or ())
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
        statement = (
            update(table)
            .where(
                table.c.scope == scope,
                table.c.key == key,
                or_(
                    table.c.expires_at <= now,
                    and_(table.c.status.is_(None), table.c.started_at < stale_before),
                ),
            )
            .values(
                fingerprint=fingerprint,
                status=None,
                body=None,
                headers=None,
                started_at=now,
                expires_at=expires_at,
            )
        )
        result = await self._connection.execute(statement)
        return bool(result.rowcount)

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        statement = (
            update(table)
            .where(table.c.scope == scope, table.c.key == key)
            .values(
                status=response.status,
                body=response.body,
                headers=[list(pair) for pair in response.headers],
            )
        )
        await self._connection.execute(statement)

    async def release(self, scope: str, key: str) -> None:
        statement = delete(table).where(
            table.c.scope == scope, table.c.key == key, table.c.status.is_(None)
        )
        await self._connection.execute(statement)

    async def purge(self, now: datetime) -> int:
        result = await self._connection.execute(delete(table).where(table.c.expires_at <= now))
        return int(result.rowcount)
