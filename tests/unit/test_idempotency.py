from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.clock import SteppingClock
from tests.support.principals import ADMIN
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.application.idempotency import (
    LEASE,
    RETENTION,
    Idempotency,
    IdempotencyKeyReused,
    RequestInFlight,
)
from users_service.application.idempotency_store import IdempotencyClaim, StoredResponse
from users_service.application.users.register import RegisterUsers
from users_service.domain.errors import EmailAlreadyRegistered

CREATED = StoredResponse(201, b'{"id": 1}', (("location", "/users/1"),))


@pytest.fixture
def gate(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> Idempotency:
    return Idempotency(uow, clock)


def claim(key: str = "k1") -> IdempotencyClaim:
    return IdempotencyClaim("alice", key, lambda users: CREATED)


async def test_first_request_claims_then_repeat_replays(
    gate: Idempotency, register: RegisterUsers
) -> None:
    assert await gate.begin("alice", "k1", "fp") is None
    await register.one(ADMIN, "ada@example.com", "Ada", claim=claim())
    assert await gate.begin("alice", "k1", "fp") == CREATED


async def test_repeat_while_in_flight(gate: Idempotency) -> None:
    assert await gate.begin("alice", "k1", "fp") is None
    with pytest.raises(RequestInFlight):
        await gate.begin("alice", "k1", "fp")


async def test_same_key_other_body(gate: Idempotency, register: RegisterUsers) -> None:
    await gate.begin("alice", "k1", "fp")
    await register.one(ADMIN, "ada@example.com", "Ada", claim=claim())
    with pytest.raises(IdempotencyKeyReused):
        await gate.begin("alice", "k1", "other")


async def test_keys_are_scoped(gate: Idempotency, register: RegisterUsers) -> None:
    await gate.begin("alice", "k1", "fp")
    await register.one(ADMIN, "ada@example.com", "Ada", claim=claim())
    assert await gate.begin("bob", "k1", "fp") is None


async def test_refusal_is_replayed(gate: Idempotency) -> None:
    refusal = StoredResponse(409, b"taken")
    await gate.begin("alice", "k1", "fp")
    await gate.refuse("alice", "k1", refusal)
    assert await gate.begin("alice", "k1", "fp") == refusal


async def test_failed_work_stores_nothing_and_abandon_frees_the_key(
    gate: Idempotency, register: RegisterUsers
) -> None:
    await register.one(ADMIN, "taken@example.com", "Taken")
    await gate.begin("alice", "k1", "fp")
    with pytest.raises(EmailAlreadyRegistered):
        await register.one(ADMIN, "taken@example.com", "Again", claim=claim())
    with pytest.raises(RequestInFlight):  # the claim survives a failed transaction
        await gate.begin("alice", "k1", "fp")
    await gate.abandon("alice", "k1")
    assert await gate.begin("alice", "k1", "fp") is None


async def test_abandoned_claim_is_taken_over_after_the_lease(
    gate: Idempotency, clock: SteppingClock
) -> None:
    await gate.begin("alice", "k1", "fp")
    clock.current += LEASE + timedelta(seconds=1)
    assert await gate.begin("alice", "k1", "fp") is None


async def test_keys_expire_and_purge(
    gate: Idempotency, register: RegisterUsers, clock: SteppingClock
) -> None:
    await gate.begin("alice", "k1", "fp")
    await register.one(ADMIN, "ada@example.com", "Ada", claim=claim())
    clock.current += RETENTION - timedelta(minutes=1)
    assert await gate.begin("alice", "k1", "fp") == CREATED
    assert await gate.purge() == 0
    clock.current += timedelta(minutes=2)
    assert await gate.purge() == 1
    assert await gate.begin("alice", "k1", "other") is None
