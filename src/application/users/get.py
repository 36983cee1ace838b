from __future__ import annotations

from application.unit_of_work import UnitOfWorkFactory
from domain.errors import UserNotFound
from domain.user import User


class GetUser:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: int) -> User:
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user
