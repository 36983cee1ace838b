from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SteppingClock:
    """A clock that moves one millisecond each time it is read: times are distinct."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current
