"""For the events tests: a NATS server of the test's own (started, killed and restarted
by the test), the outbox drained, and what the stream holds checked against the schema."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft7Validator

from tests.support.nats import Received, stream_contents
from tests.support.timing import bound
from users_service.application.unit_of_work import UnitOfWorkFactory

EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"
VALIDATORS = {
    resource: Draft7Validator(
        orjson.loads((EVENTS / f"{resource}-event.schema.json").read_bytes()),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )
    for resource in ("user", "group")
}


async def pending(uow: UnitOfWorkFactory) -> int:
    async with uow() as unit:
        return (await unit.outbox.backlog()).pending


async def drained(uow: UnitOfWorkFactory, seconds: float = 20.0) -> None:
    """Until the outbox has nothing pending (the relay published everything)."""
    deadline = time.monotonic() + bound(seconds)
    while (left := await pending(uow)) > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} events still pending after {seconds} s")
        await asyncio.sleep(0.05)


async def published(url: str, stream: str, prefix: str = "users.v1") -> list[Received]:
    """Every message of the stream, each checked against its schema and its subject."""
    received = await stream_contents(url, stream)
    for message in received:
        kind_type = message.event["type"].removeprefix(f"{prefix}.")
        resource = kind_type.split(".", 1)[0]
        VALIDATORS[resource].validate(message.event)  # raises, naming what is wrong
        assert message.msg_id == message.event["id"]
        assert message.subject == f"{prefix}.{kind_type}.{message.event['subject']}"
    return received


def by_user(received: list[Received]) -> dict[int, list[dict[str, Any]]]:
    users: dict[int, list[dict[str, Any]]] = {}
    for message in received:
        users.setdefault(int(message.event["subject"]), []).append(message.event)
    return users


def assert_ordered_per_user(received: list[Received]) -> None:
    """Each user's events in stream order: created first, versions never going down,
    deleted last; no event id twice."""
    ids = [m.event["id"] for m in received]
    assert len(ids) == len(set(ids)), "an event id was published twice"
    for user, events in by_user(received).items():
        versions = [e["data"]["version"] for e in events]
        kinds = [e["type"].rsplit(".", 1)[1] for e in events]
        assert kinds[0] == "created", (user, kinds)
        assert "deleted" not in kinds[:-1], (user, kinds)
        updates = [v for v, k in zip(versions, kinds, strict=True) if k != "deleted"]
        assert updates == list(range(1, len(updates) + 1)), (user, versions)
