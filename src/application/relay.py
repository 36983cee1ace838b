"""The relay: from the outbox to the broker, in commit order per user, at least once.

Each round is one unit of work: take the lead (one relay at a time; a transaction-scoped
lock on PostgreSQL, so another relay takes over as soon as this one's transaction ends or
its connection dies), read the oldest pending events, publish them, mark what the broker
acknowledged, commit. A relay killed between publishing and committing publishes the
same events again, with the same ids: the broker's duplicate window drops them, and a
consumer can recognise them by id.

Reading "all that is pending" each round, never "after the last position seen", means a
transaction that committed late (with a lower position) is published in the next round;
a user's own events are ordered anyway, as each change waits for the previous one's row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from users_service.application.clock import Clock
from users_service.application.events import Backlog, ChangeEvent
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.unit_of_work import UnitOfWorkFactory

logger = logging.getLogger("users_service.events")


class EventPublisher(Protocol):
    async def connect(self) -> None:
        """Ready to publish; raises when the broker cannot be reached."""
        ...

    async def publish(self, events: Sequence[ChangeEvent]) -> list[int]:
        """Publish in order per user; the positions the broker acknowledged (a prefix of
        each user's events). Raises when the broker cannot be reached at all."""
        ...

    async def close(self) -> None: ...


# Seconds between two purges of published events.
PURGE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """The relay's settings (their defaults: the service's Settings, EVENTS_*)."""

    batch_size: int
    poll_max: float  # longest sleep between polls when idle or failing
    # Shortest time between two rounds' starts, wake-ups or not: under load a round
    # carries what came in meanwhile, its fixed costs (a transaction of three statements, a
    # broker round trip) shared by more events.
    poll_min: float
    retention: float


class OutboxRelay:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        publisher: EventPublisher,
        clock: Clock,
        settings: RelaySettings,
        metrics: UsageMetrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._uow = uow
        self._publisher = publisher
        self._clock = clock
        self._settings = settings
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        """Poll now: an in-process write has committed a change."""
        self._wake.set()

    async def round(self) -> int | None:
        """One round: how many events were published, or None when another relay leads."""
        # The broker first: a broker that is away never keeps the round's transaction
        # (and, on SQLite, the database's write lock) open while it is tried.
        await self._publisher.connect()
        async with self._uow() as uow:
            if not await uow.outbox.try_lead():
                return None
            events = await uow.outbox.pending(self._settings.batch_size)
            if not events:
                return 0
            acknowledged = await self._publisher.publish(events)
            await uow.outbox.mark_published(acknowledged, self._clock.now())
            await uow.commit()
        self.published += len(acknowledged)
        self._metrics.events_published(len(acknowledged))
        if len(acknowledged) < len(events):
            raise PartialPublish(len(events) - len(acknowledged))
        return len(acknowledged)

    async def purge(self) -> int:
        before = self._clock.now() - timedelta(seconds=self._settings.retention)
        async with self._uow() as uow:
            purged = await uow.outbox.purge(before)
            await uow.commit()
        return purged

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set: straight on while full batches come, else sleeping
        with backoff up to `poll_max` (a wake-up cuts the sleep short, down to `poll_min`
        after the round's start)."""
        settings = self._settings
        delay = settings.poll_min
        loop = asyncio.get_running_loop()
        next_purge = next_backlog = loop.time()
        failing: str | None = None  # the error of the failing rounds, logged once
        failed_rounds = 0
        while not stop.is_set():
            self._wake.clear()  # a wake-up from now on shortens the next sleep
            started = loop.time()
            try:
                published = await self.round()
                if loop.time() >= next_purge:
                    await self.purge()
                    next_purge = loop.time() + PURGE_EVERY
                if loop.time() >= next_backlog:  # for the metrics, once a second
                    await outbox_backlog(self._uow, self._clock, self._metrics)
                    next_backlog = loop.time() + 1.0
            except Exception as exc:  # broker or database away: back off, keep going
                failed_rounds += 1
                if repr(exc) != failing:  # once per outage and cause, not once a round
                    failing = repr(exc)
                    logger.warning(
                        "relay round failed; retrying with backoff",
                        extra={"error": failing, "retry_max_seconds": settings.poll_max},
                    )
                published = None
            else:
                if failing is not None:
                    logger.info("relay resumed", extra={"failed_rounds": failed_rounds})
                    failing, failed_rounds = None, 0
            if published is not None and published >= settings.batch_size:
                delay = settings.poll_min
                continue
            await self._sleep(started + settings.poll_min, delay, stop)
            delay = min(delay * 2, settings.poll_max) if not published else settings.poll_min

    async def _sleep(self, not_before: float, seconds: float, stop: asyncio.Event) -> None:
        """`seconds`, cut short by a wake-up, but not to before `not_before` (loop time);
        `stop` ends it at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        hold = min(not_before, deadline) - loop.time()
        if hold > 0:
            await _first(hold, stop.wait())
        rest = deadline - loop.time()
        if rest > 0 and not stop.is_set() and not self._wake.is_set():
            await _first(rest, self._wake.wait(), stop.wait())


async def _first(seconds: float, *waits: Coroutine[Any, Any, Any]) -> None:
    """Until the first of `waits` ends, or `seconds`."""
    waiters = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def outbox_backlog(
    uow: UnitOfWorkFactory, clock: Clock, metrics: UsageMetrics = NO_METRICS
) -> tuple[Backlog, float | None]:
    """What waits in the outbox, and the age in seconds of its oldest event."""
    async with uow(read_only=True) as unit:
        backlog = await unit.outbox.backlog()
    age = None
    if backlog.oldest is not None:
        age = max(0.0, (clock.now() - backlog.oldest).total_seconds())
    metrics.outbox_backlog(backlog.pending, age)
    return backlog, age


class PartialPublish(RuntimeError):
    def __init__(self, left: int) -> None:
        super().__init__(f"{left} events were not acknowledged; they stay in the outbox")
