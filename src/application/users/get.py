from __future__ import annotations

from users_service.application.access import Principal
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import UserNotFound
from users_service.domain.user import User


class GetUser:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, actor: Principal, user_id: int) -> User:
        if not (actor.can_read or actor.is_user(user_id)):
            raise UserNotFound(user_id)  # others' ids do not exist for a self-service caller
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user
