from __future__ import annotations

from collections.abc import Collection

from users_service.application.access import WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import UserNotFound, VersionMismatch


class DeleteUser:
    """Delete a user, and its memberships (each of its groups changes); with
    `expected_versions`, only if its version is one of them."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        metrics: UsageMetrics = NO_METRICS,
        events: EventPolicy = NO_EVENTS,
    ) -> None:
        self._events = events
        self._uow = uow
        self._clock = clock
        self._metrics = metrics

    async def __call__(
        self,
        actor: Principal,
        user_id: int,
        *,
        expected_versions: Collection[int] | None = None,
    ) -> None:
        require(actor, WRITE)
        async with self._uow() as uow:
            now = self._clock.now()
            event = self._events.context(now)
            if await uow.users.delete(user_id, expected_versions, event, now=now):
                await uow.commit()
                self._events.committed()
                self._metrics.user_deleted()
                return
            current = await uow.users.get(user_id)
        if current is None:
            raise UserNotFound(user_id)
        raise VersionMismatch(user_id, current.version)
