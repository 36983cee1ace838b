"""Add and remove members: one, or a batch, all or nothing.

The group's row is locked first (so concurrent changes of one group queue, and its
`member_count` and `version` stay exact); then users are added with one INSERT ... SELECT
and removed with one DELETE, whatever the group's size.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from users_service.application.access import GROUPS_WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.errors import StorageUnavailable
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.group_repository import MembersVanished
from users_service.application.idempotency_store import IdempotencyClaim
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import (
    GroupNotFound,
    GroupVersionMismatch,
    InvalidValue,
    UserNotFound,
    refuse_all,
)
from users_service.domain.group import MemberChanges, MembershipChange


class ChangeMembers:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, events: EventPolicy = NO_EVENTS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events

    async def add(
        self,
        actor: Principal,
        group_id: int,
        user_id: int,
        *,
        expected_versions: Collection[int] | None = None,
    ) -> MembershipChange:
        """The user is a member afterwards, whether or not it was before."""
        require(actor, GROUPS_WRITE)
        return await self._change(group_id, MemberChanges((user_id,), ()), expected_versions)

    async def remove(
        self,
        actor: Principal,
        group_id: int,
        user_id: int,
        *,
        expected_versions: Collection[int] | None = None,
    ) -> MembershipChange:
        """The user is not a member afterwards, whether or not it was before."""
        require(actor, GROUPS_WRITE)
        return await self._change(group_id, MemberChanges((), (user_id,)), expected_versions)

    async def batch(
        self,
        actor: Principal,
        group_id: int,
        add: Sequence[int],
        remove: Sequence[int],
        *,
        expected_versions: Collection[int] | None = None,
        claim: IdempotencyClaim[MembershipChange] | None = None,
    ) -> MembershipChange:
        """Every unknown user in `add` is refused (each named by its place), and then
        nothing changes."""
        require(actor, GROUPS_WRITE)
        changes = MemberChanges.parse(add, remove)
        return await self._change(group_id, changes, expected_versions, claim, positions=add)

    async def _change(
        self,
        group_id: int,
        changes: MemberChanges,
        expected_versions: Collection[int] | None,
        claim: IdempotencyClaim[MembershipChange] | None = None,
        positions: Sequence[int] | None = None,
    ) -> MembershipChange:
        try:
            async with self._uow() as uow:
                group = await uow.groups.lock(group_id)
                if group is None:
                    raise GroupNotFound(group_id)
                if expected_versions is not None and group.version not in expected_versions:
                    raise GroupVersionMismatch(group_id, group.version)
                now = self._clock.now()
                result = await uow.groups.change_members(
                    group, changes.add, changes.remove, now, self._events.context()
                )
                # Users not added were members already, or are no users at all.
                not_added = set(changes.add) - set(result.added)
                if not_added:
                    _refuse_missing(await uow.groups.missing_users(not_added), positions)
                if claim is not None:
                    await uow.idempotency.complete(claim.scope, claim.key, claim.snapshot(result))
                await uow.commit()
        except MembersVanished:
            # A user being added was deleted meanwhile: nothing was written.
            async with self._uow(read_only=True) as uow:
                _refuse_missing(await uow.groups.missing_users(changes.add), positions)
            raise StorageUnavailable("A member changed meanwhile; retry.") from None
        if result.added or result.removed:
            self._events.committed()
        return result


def _refuse_missing(missing: set[int], positions: Sequence[int] | None) -> None:
    if not missing:
        return
    if positions is None:  # one user, named in the path
        raise UserNotFound(min(missing))
    refuse_all(
        [
            InvalidValue("add", f"no user has id {user_id}", loc=("add", index))
            for index, user_id in enumerate(positions)
            if user_id in missing
        ]
    )
