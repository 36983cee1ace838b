"""Read replicas: which one may serve a read, and when it may not.

A replica serves read-only units that allow it (`replica=True`) while it answers and its
replay lag is within `DB_REPLICA_MAX_LAG` seconds. The lag is measured on the replica at
most once a second per process, by the first read that finds the last measure too old
(the others use the last one meanwhile):

- a replica that has replayed all the WAL it received is not behind, however long ago
  the primary last wrote (an idle primary does not make a caught-up replica look stale);
- otherwise the lag is the age of the last transaction it replayed.

A replica that fails (unreachable, refusing, timing out) is skipped until the next
measure, a second later; the read that met the failure is answered by the primary.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from users_service.adapters.sqlalchemy.errors import is_transient
from users_service.adapters.sqlalchemy.sessions import Database, scalar

MEASURE_EVERY = 1.0  # seconds

_LAG = text(
    "SELECT CASE"
    " WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)"
    " END"
)


class Replica:
    def __init__(self, database: Database, max_lag: float) -> None:
        self.database = database
        self._max_lag = max_lag
        self._measured_at: float | None = None
        self._usable = False
        self.lag: float | None = None  # the last measure, seconds (None: did not answer)
        self._measuring: asyncio.Lock | None = None

    async def usable(self) -> bool:
        """Whether reads may go to the replica now (measuring first if it is time)."""
        now = time.monotonic()
        if self._measured_at is not None and now - self._measured_at < MEASURE_EVERY:
            return self._usable
        if self._measuring is None:
            self._measuring = asyncio.Lock()
        if self._measuring.locked():
            return self._usable  # someone is measuring: use the last measure meanwhile
        async with self._measuring:
            await self._measure()
        return self._usable

    async def _measure(self) -> None:
        try:
            lag = float(await scalar(self.database, _LAG))
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._usable = False
            self.lag = None
        else:
            self._usable = lag <= self._max_lag
            self.lag = lag
        self._measured_at = time.monotonic()

    @property
    def serving(self) -> bool:
        """Whether the last measure let the replica serve reads."""
        return self._usable

    def failed(self) -> None:
        """A read on the replica failed: skip it until the next measure."""
        self._usable = False
        self._measured_at = time.monotonic()
