"""The idempotency port: records of keyed requests, and what a use case is handed to
complete one. Storage implements `IdempotencyRepository` inside a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A finished answer kept for replay. Opaque here: the entrypoint gives it meaning."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str
    response: StoredResponse | None
    """None while the first request is still in flight."""
    started_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IdempotencyClaim(Generic[Result]):
    """Handed to a use case: complete the key with `snapshot(result)` before committing
    (the users stored, the group created, the members changed)."""

    scope: str
    key: str
    snapshot: Callable[[Result], StoredResponse]


class IdempotencyRepository(Protocol):
    """Idempotency records, inside one unit of work."""

    async def claim(
        self, scope: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> bool:
        """Insert an in-flight record; False when the key already has one."""
        ...

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None: ...

    async def restart(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> bool:
        """Take over a record that expired, or whose claim is older than `stale_before`
        and was never completed. One conditional statement; False if it did not qualify."""
        ...

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, scope: str, key: str) -> None:
        """Forget an uncompleted claim."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete expired records; returns how many."""
        ...
