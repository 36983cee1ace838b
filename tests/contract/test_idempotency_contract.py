from __future__ import annotations

from datetime import UTC, datetime, timedelta

from users_service.application.idempotency_store import StoredResponse
from users_service.application.unit_of_work import UnitOfWorkFactory

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)
RESPONSE = StoredResponse(201, b'{"id":1}\x00\xff', (("location", "/users/1"), ("etag", '"1"')))


async def test_claim_find_complete(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        assert await tx.idempotency.claim("s", "k", "fp", T0, LATER)
        assert not await tx.idempotency.claim("s", "k", "fp", T0, LATER)
        await tx.commit()
    async with uow() as tx:
        record = await tx.idempotency.find("s", "k")
        assert record is not None
        assert (record.fingerprint, record.response) == ("fp", None)
        assert (record.started_at, record.expires_at) == (T0, LATER)
        await tx.idempotency.complete("s", "k", RESPONSE)
        await tx.commit()
    async with uow(read_only=True) as tx:
        record = await tx.idempotency.find("s", "k")
        assert record is not None
        assert record.response == RESPONSE
        assert await tx.idempotency.find("other-scope", "k") is None


async def test_uncommitted_claim_vanishes(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        assert await tx.idempotency.claim("s", "k", "fp", T0, LATER)
    async with uow() as tx:
        assert await tx.idempotency.find("s", "k") is None


async def test_release_only_frees_uncompleted_claims(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.idempotency.claim("s", "open", "fp", T0, LATER)
        await tx.idempotency.claim("s", "done", "fp", T0, LATER)
        await tx.idempotency.complete("s", "done", RESPONSE)
        await tx.idempotency.release("s", "open")
        await tx.idempotency.release("s", "done")
        await tx.commit()
    async with uow() as tx:
        assert await tx.idempotency.find("s", "open") is None
        assert await tx.idempotency.find("s", "done") is not None


async def test_restart_takes_over_only_stale_or_expired(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.idempotency.claim("s", "k", "fp", T0, LATER)
        fresh_cutoff = T0 - timedelta(seconds=1)
        assert not await tx.idempotency.restart("s", "k", "fp2", T0, LATER, fresh_cutoff)
        stale_cutoff = T0 + timedelta(seconds=1)
        assert await tx.idempotency.restart("s", "k", "fp2", T0, LATER, stale_cutoff)
        await tx.idempotency.complete("s", "k", RESPONSE)
        assert not await tx.idempotency.restart("s", "k", "fp3", T0, LATER, stale_cutoff)
        assert await tx.idempotency.restart("s", "k", "fp3", LATER, LATER + timedelta(days=1), T0)
        record = await tx.idempotency.find("s", "k")
        assert record is not None
        assert (record.fingerprint, record.response) == ("fp3", None)


async def test_purge_deletes_expired(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.idempotency.claim("s", "old", "fp", T0, T0 + timedelta(hours=1))
        await tx.idempotency.claim("s", "new", "fp", T0, LATER)
        assert await tx.idempotency.purge(T0 + timedelta(hours=2)) == 1
        await tx.commit()
    async with uow(read_only=True) as tx:
        assert await tx.idempotency.find("s", "old") is None
        assert await tx.idempotency.find("s", "new") is not None
