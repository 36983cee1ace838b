"""Create, change and delete groups."""

from __future__ import annotations

from collections.abc import Collection

from users_service.application.access import GROUPS_WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.idempotency_store import IdempotencyClaim
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import (
    GroupNameTaken,
    GroupNotFound,
    GroupVersionMismatch,
    InvalidValue,
    refuse_all,
)
from users_service.domain.group import Group, GroupChanges, NewGroup
from users_service.domain.values import Description, Name


def parse_new_group(name: str | Name, description: str | Description | None) -> NewGroup:
    """Both values, or every refusal."""
    problems: list[InvalidValue] = []
    parsed_name = parsed_description = None
    try:
        parsed_name = Name.parse(name)
    except InvalidValue as exc:
        problems.append(exc)
    try:
        parsed_description = Description.parse(description) if description is not None else None
    except InvalidValue as exc:
        problems.append(exc)
    refuse_all(problems)
    assert parsed_name is not None
    return NewGroup(parsed_name, parsed_description)


class CreateGroup:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, events: EventPolicy = NO_EVENTS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events

    async def __call__(
        self,
        actor: Principal,
        name: str | Name,
        description: str | Description | None = None,
        *,
        claim: IdempotencyClaim[Group] | None = None,
    ) -> Group:
        require(actor, GROUPS_WRITE)
        new = parse_new_group(name, description)
        async with self._uow() as uow:
            group = await uow.groups.insert(new, self._clock.now(), self._events.context())
            if group is None:
                raise GroupNameTaken(new.name.value)
            if claim is not None:
                await uow.idempotency.complete(claim.scope, claim.key, claim.snapshot(group))
            await uow.commit()
        self._events.committed()
        return group


class UpdateGroup:
    """Merge-patch a group's name and/or description; with `expected_versions`, only if
    its version is one of them. A patch that changes nothing leaves the version alone."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, events: EventPolicy = NO_EVENTS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events

    async def __call__(
        self,
        actor: Principal,
        group_id: int,
        *,
        name: str | Name | None = None,
        description: str | Description | None = None,
        sets_description: bool = False,
        expected_versions: Collection[int] | None = None,
    ) -> Group:
        require(actor, GROUPS_WRITE)
        problems: list[InvalidValue] = []
        parsed_name = parsed_description = None
        try:
            parsed_name = Name.parse(name) if name is not None else None
        except InvalidValue as exc:
            problems.append(exc)
        try:
            if sets_description and description is not None:
                parsed_description = Description.parse(description)
        except InvalidValue as exc:
            problems.append(exc)
        refuse_all(problems)
        changes = GroupChanges(parsed_name, parsed_description, sets_description)
        async with self._uow() as uow:
            if not changes.empty:
                updated = await uow.groups.update(
                    group_id, changes, self._clock.now(), expected_versions, self._events.context()
                )
                if updated is not None:
                    await uow.commit()
                    self._events.committed()
                    return updated
            current = await uow.groups.get(group_id)  # nothing was written: find out why
        if current is None:
            raise GroupNotFound(group_id)
        if expected_versions is not None and current.version not in expected_versions:
            raise GroupVersionMismatch(group_id, current.version)
        return current


class DeleteGroup:
    """Delete a group and its memberships (its members stay)."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, events: EventPolicy = NO_EVENTS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events

    async def __call__(
        self, actor: Principal, group_id: int, *, expected_versions: Collection[int] | None = None
    ) -> None:
        require(actor, GROUPS_WRITE)
        async with self._uow() as uow:
            event = self._events.context(self._clock.now())
            if await uow.groups.delete(group_id, expected_versions, event):
                await uow.commit()
                self._events.committed()
                return
            current = await uow.groups.get(group_id)
        if current is None:
            raise GroupNotFound(group_id)
        raise GroupVersionMismatch(group_id, current.version)
