from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from users_service.application.access import WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.emails import EmailSyntax
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.idempotency_store import IdempotencyClaim
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import (
    EmailAlreadyRegistered,
    EmailConflict,
    InvalidValue,
    InvalidValues,
    refuse_all,
)
from users_service.domain.user import NewUser, User
from users_service.domain.values import Email, Name

MAX_BATCH_SIZE = 1000


class UserFields(Protocol):
    """What a batch item must offer: an email and a name, as raw strings (parsed here:
    the email by the email authority) or as value objects (they pass as they are)."""

    @property
    def email(self) -> Email | str: ...

    @property
    def name(self) -> Name | str: ...


@dataclass(frozen=True, slots=True)
class UserInput:
    email: Email | str
    name: Name | str


class RegisterUsers:
    """Register one or many users, all or nothing.

    A conflict names every offending item: emails already stored and every item whose
    email repeats inside the request.
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
        self._uow = uow
        self._clock = clock
        self._emails = emails
        self._metrics = metrics

    async def one(
        self,
        actor: Principal,
        email: Email | str,
        name: Name | str,
        *,
        claim: IdempotencyClaim[list[User]] | None = None,
    ) -> User:
        require(actor, WRITE)
        [user] = await self._register([self._parse(email, name)], claim)
        return user

    async def many(
        self,
        actor: Principal,
        items: Sequence[UserFields],
        *,
        claim: IdempotencyClaim[list[User]] | None = None,
    ) -> list[User]:
        require(actor, WRITE)
        if not 1 <= len(items) <= MAX_BATCH_SIZE:
            raise InvalidValue("users", f"must hold 1 to {MAX_BATCH_SIZE} users")
        new_users: list[NewUser] = []
        problems: list[InvalidValue] = []
        for index, item in enumerate(items):
            try:
                new_users.append(self._parse(item.email, item.name))
            except InvalidValues as exc:
                problems += [problem.at("users", index) for problem in exc.problems]
            except InvalidValue as exc:
                problems.append(exc.at("users", index))
        refuse_all(problems)
        return await self._register(new_users, claim)

    def _parse(self, email: Email | str, name: Name | str) -> NewUser:
        """Both values, or every refusal (InvalidValue, or InvalidValues for both)."""
        problems: list[InvalidValue] = []
        try:
            parsed_email = self._emails.parse(email)
        except InvalidValue as exc:
            problems.append(exc)
        try:
            parsed_name = Name.parse(name)
        except InvalidValue as exc:
            problems.append(exc)
        refuse_all(problems)
        return NewUser(email=parsed_email, name=parsed_name)

    async def _register(
        self, new_users: list[NewUser], claim: IdempotencyClaim[list[User]] | None
    ) -> list[User]:
        repeated = _repeated_indices(new_users)
        # One user and no claim to complete: the INSERT is the only write, and of one
        # user it either lands whole or not at all (a conflict inserts nothing).
        insert_only = len(new_users) == 1 and claim is None
        async with self._uow(insert_only=insert_only) as uow:
            stored = await uow.users.insert_new(
                new_users, self._clock.now(), self._events.context()
            )
            taken = repeated | {i for i, user in enumerate(stored) if user is None}
            if taken:
                raise EmailAlreadyRegistered(
                    [EmailConflict(i, new_users[i].email.value) for i in sorted(taken)]
                )
            users = [user for user in stored if user is not None]
            if claim is not None:
                await uow.idempotency.complete(claim.scope, claim.key, claim.snapshot(users))
            await uow.commit()
        self._events.committed()
        self._metrics.users_created(len(users))
        return users


def _repeated_indices(users: Sequence[NewUser]) -> set[int]:
    positions: defaultdict[str, list[int]] = defaultdict(list)
    for index, user in enumerate(users):
        positions[user.email.key].append(index)
    return {i for indices in positions.values() if len(indices) > 1 for i in indices}
