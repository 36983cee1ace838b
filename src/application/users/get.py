from __future__ import annotations

from users_service.application.access import Principal
from users_service.application.unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    read_preferring_replica,
)
from users_service.domain.errors import UserNotFound
from users_service.domain.user import User


class GetUser:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, actor: Principal, user_id: int, *, fresh: bool = False) -> User:
        """`fresh`: from the primary, never a replica (a miss there is confirmed anyway)."""
        if not (actor.can_read or actor.is_user(user_id)):
            raise UserNotFound(user_id)  # others' ids do not exist for a self-service caller

        async def read(uow: UnitOfWork) -> User | None:
            return await uow.users.get(user_id)

        user = await read_preferring_replica(
            self._uow, read, fresh=fresh, found=lambda found: found is not None
        )
        if user is None:
            raise UserNotFound(user_id)
        return user
