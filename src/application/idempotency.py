"""Idempotent retries: a key, scoped to its caller, replays the first outcome.

A request with an `Idempotency-Key` first *claims* the key in a transaction of its own,
so a concurrent repeat sees it in flight. The work then completes the claim in the same
transaction that stores the users, so a stored outcome and its users land together. A
domain refusal (409, 422) is stored too; an infrastructure failure releases the claim so
the client can retry. Claims whose holder died are taken over after a lease.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from users_service.application.clock import Clock
from users_service.application.errors import ApplicationError
from users_service.application.idempotency_store import StoredResponse
from users_service.application.unit_of_work import UnitOfWorkFactory

RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)


class IdempotencyKeyReused(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new request."
        )


class RequestInFlight(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )


class Idempotency:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def begin(self, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim the key (returns None: go ahead) or return the outcome to replay.

        Raises IdempotencyKeyReused for another body, RequestInFlight while the first
        request runs.
        """
        for _ in range(3):  # a record can vanish or change between two statements
            now = self._clock.now()
            async with self._uow() as uow:
                if await uow.idempotency.claim(scope, key, fingerprint, now, now + RETENTION):
                    await uow.commit()
                    return None
                record = await uow.idempotency.find(scope, key)
                if record is None:
                    continue
                expired = record.expires_at <= now
                abandoned = record.response is None and record.started_at < now - LEASE
                if expired or abandoned:
                    if await uow.idempotency.restart(
                        scope, key, fingerprint, now, now + RETENTION, now - LEASE
                    ):
                        await uow.commit()
                        return None
                    continue
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if record.response is None:
                raise RequestInFlight()
            return record.response
        raise RequestInFlight()

    async def refuse(self, scope: str, key: str, response: StoredResponse) -> None:
        """Store a refusal (the request was wrong, not the service) for replay."""
        async with self._uow() as uow:
            await uow.idempotency.complete(scope, key, response)
            await uow.commit()

    async def abandon(self, scope: str, key: str) -> None:
        """Release the claim after a failure that a retry may not meet again."""

        async def release() -> None:
            async with self._uow() as uow:
                await uow.idempotency.release(scope, key)
                await uow.commit()

        await asyncio.shield(release())

    async def purge(self) -> int:
        async with self._uow() as uow:
            purged = await uow.idempotency.purge(self._clock.now())
            await uow.commit()
        return purged
