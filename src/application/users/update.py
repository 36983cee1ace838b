from __future__ import annotations

from collections.abc import Collection

from users_service.application.access import WRITE, InsufficientScope, Principal
from users_service.application.clock import Clock
from users_service.application.emails import EmailSyntax
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import (
    InvalidValue,
    UserNotFound,
    VersionMismatch,
    refuse_all,
)
from users_service.domain.user import User, UserChanges
from users_service.domain.values import Email, Name


class UpdateUser:
    """Merge-patch a user's email and/or name.

    With `expected_versions` the write happens only if the stored version is one of
    them (If-Match); the check and the write are one conditional statement, so two
    concurrent patches against the same version cannot both win. A patch that changes
    nothing leaves the version alone.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        emails: EmailSyntax,
        metrics: UsageMetrics = NO_METRICS,
        events: EventPolicy = NO_EVENTS,
    ) -> None:
        self._events = events
        self._metrics = metrics
        self._uow = uow
        self._clock = clock
        self._emails = emails

    def _changes(self, email: Email | str | None, name: Name | str | None) -> UserChanges:
        problems: list[InvalidValue] = []
        parsed_email = parsed_name = None
        try:
            parsed_email = self._emails.parse(email) if email is not None else None
        except InvalidValue as exc:
            problems.append(exc)
        try:
            parsed_name = Name.parse(name) if name is not None else None
        except InvalidValue as exc:
            problems.append(exc)
        refuse_all(problems)
        return UserChanges(email=parsed_email, name=parsed_name)

    async def __call__(
        self,
        actor: Principal,
        user_id: int,
        *,
        email: Email | str | None = None,
        name: Name | str | None = None,
        expected_versions: Collection[int] | None = None,
    ) -> User:
        if not (actor.can_write or actor.is_user(user_id)):
            if actor.can_read:
                raise InsufficientScope(WRITE)
            raise UserNotFound(user_id)
        changes = self._changes(email, name)
        async with self._uow() as uow:
            if not changes.empty:
                updated = await uow.users.update(
                    user_id, changes, self._clock.now(), expected_versions, self._events.context()
                )
                if updated is not None:
                    await uow.commit()
                    self._events.committed()
                    self._metrics.user_updated()
                    return updated
            # Nothing was written: find out why.
            current = await uow.users.get(user_id)
        if current is None:
            raise UserNotFound(user_id)
        if expected_versions is not None and current.version not in expected_versions:
            raise VersionMismatch(user_id, current.version)
        return current
