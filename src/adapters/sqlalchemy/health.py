"""Readiness: the database answers, with the schema this release was built for.

One round trip reads Alembic's revision table. A database with no schema, or at a
revision this release knows but that is older than its head, is not ready, and says what
to run. A revision this release does not know is a newer release's: during a rolling
update the schema is migrated first and the running pods keep serving it (migrations
only add what the release before can ignore), so it is ready. `serve` makes the same
check before it starts.
"""

from __future__ import annotations

from sqlalchemy import text

from users_service.adapters.sqlalchemy.errors import is_missing_schema
from users_service.adapters.sqlalchemy.sessions import Database, scalar
from users_service.application.errors import StorageNotReady

_REVISION = text("SELECT version_num FROM alembic_version")


class SchemaCheck:
    def __init__(self, database: Database, head: str, known: frozenset[str]) -> None:
        self._database = database
        self._head = head
        self._known = known

    async def __call__(self) -> None:
        try:
            found = await scalar(self._database, _REVISION)
        except IndexError:
            found = None  # the table exists, empty
        except Exception as exc:
            if not is_missing_schema(exc):
                raise
            found = None
        if found is None or (found != self._head and found in self._known):
            where = "has no schema" if found is None else f"is at revision {found}"
            raise StorageNotReady(
                f"The database {where}, not at this release's {self._head}: "
                "run `users-service migrate`."
            )
