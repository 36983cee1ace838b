"""What the use cases report about the changes they make, for the operators' metrics.

A port: the use cases say what happened (after it committed), an adapter counts it. The
default reports nowhere, so the use cases run the same with or without metrics."""

from __future__ import annotations

from typing import Protocol


class UsageMetrics(Protocol):
    def users_created(self, count: int) -> None: ...

    def user_updated(self) -> None: ...

    def user_deleted(self) -> None: ...

    def events_published(self, count: int) -> None: ...

    def outbox_backlog(self, pending: int, oldest_age_seconds: float | None) -> None: ...


class _NoMetrics:
    def users_created(self, count: int) -> None:
        return None

    def user_updated(self) -> None:
        return None

    def user_deleted(self) -> None:
        return None

    def events_published(self, count: int) -> None:
        return None

    def outbox_backlog(self, pending: int, oldest_age_seconds: float | None) -> None:
        return None


NO_METRICS: UsageMetrics = _NoMetrics()
