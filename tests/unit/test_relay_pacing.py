"""The relay's pacing on the in-memory adapter: under a stream of wake-ups its rounds
start at least `poll_min` apart (each carries what came in meanwhile); idle, a wake-up
still cuts its long sleep short."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

from tests.support.clock import SteppingClock
from tests.support.emails import EMAILS
from tests.support.principals import ADMIN
from tests.support.settings import relay_settings_with
from tests.support.timing import bound
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.application.events import ChangeEvent, EventPolicy
from users_service.application.relay import OutboxRelay
from users_service.application.users.register import RegisterUsers


class _Recording:
    """A publisher that acknowledges everything and notes when each round published."""

    def __init__(self) -> None:
        self.rounds: list[tuple[float, int]] = []

    async def connect(self) -> None:
        pass

    async def publish(self, events: Sequence[ChangeEvent]) -> list[int]:
        self.rounds.append((asyncio.get_running_loop().time(), len(events)))
        return [event.position for event in events]

    async def close(self) -> None:
        pass


async def test_rounds_under_load_are_poll_min_apart_and_carry_what_came() -> None:
    uow, publisher = InMemoryUnitOfWorkFactory(), _Recording()
    relay = OutboxRelay(uow, publisher, SteppingClock(), relay_settings_with(poll_min=0.2))
    register = RegisterUsers(uow, SteppingClock(), EMAILS, events=EventPolicy(committed=relay.wake))
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    for i in range(60):  # a create (and its wake-up) every 20 ms for 1.2 s
        await register.one(ADMIN, f"u{i}@example.com", "U")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    stop.set()
    await running
    starts = [at for at, _ in publisher.rounds]
    assert all(later - earlier >= 0.2 - 0.01 for earlier, later in itertools.pairwise(starts))
    assert sum(count for _, count in publisher.rounds) == 60
    assert max(count for _, count in publisher.rounds) > 1  # rounds carried several


async def test_a_wake_up_cuts_an_idle_sleep_short() -> None:
    uow, publisher = InMemoryUnitOfWorkFactory(), _Recording()
    settings = relay_settings_with(poll_min=0.05, poll_max=30.0)
    relay = OutboxRelay(uow, publisher, SteppingClock(), settings)
    register = RegisterUsers(uow, SteppingClock(), EMAILS, events=EventPolicy(committed=relay.wake))
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.5)  # idle: the sleeps have backed off
    await register.one(ADMIN, "late@example.com", "Late")
    async with asyncio.timeout(bound(10)):  # far below the 30 s poll_max
        while not publisher.rounds:
            await asyncio.sleep(0.01)
    stop.set()
    async with asyncio.timeout(bound(10)):  # stop ends a sleep at once
        await running
    assert [count for _, count in publisher.rounds] == [1]
