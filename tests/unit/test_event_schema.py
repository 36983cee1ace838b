"""The events' documented schema: the AsyncAPI 3 document is valid against the AsyncAPI
3.0.0 JSON Schema (vendored), its example against the payload schema, and every kind of
event the service builds against the payload schema too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft7Validator, ValidationError

from users_service.adapters.events import cloudevents
from users_service.application.events import ChangeKind, UserEvent
from users_service.domain.user import User
from users_service.domain.values import Email, Name

EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"
PAYLOAD = orjson.loads((EVENTS / "user-event.schema.json").read_bytes())
VALIDATOR = Draft7Validator(PAYLOAD, format_checker=Draft7Validator.FORMAT_CHECKER)
T = datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)
ADA = User(42, Email("ada@example.com"), Name("Ada"), T, T, 3)


def _asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EVENTS / "asyncapi.yaml").read_text())
    return document


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = orjson.loads((EVENTS / "vendor" / "asyncapi-3.0.0.schema.json").read_bytes())
    Draft7Validator(schema).validate(_asyncapi())
    assert _asyncapi()["info"]["version"] == cloudevents.SCHEMA_VERSION


def test_the_asyncapi_document_is_checked_for_real() -> None:
    schema = orjson.loads((EVENTS / "vendor" / "asyncapi-3.0.0.schema.json").read_bytes())
    broken = _asyncapi()
    broken["operations"]["publishUserCreated"]["action"] = "emit"  # not send or receive
    with pytest.raises(ValidationError):
        Draft7Validator(schema).validate(broken)


def test_the_documented_example_matches_the_payload_schema() -> None:
    [example] = _asyncapi()["components"]["messages"]["userEvent"]["examples"]
    VALIDATOR.validate(example["payload"])


def _event(kind: ChangeKind, **overrides: Any) -> UserEvent:
    fields: dict[str, Any] = {
        "position": 1,
        "event_id": "7c1e6a52-3b0e-4c33-9d6e-2f6a0c1f8e4d",
        "kind": kind,
        "user_id": 42,
        "version": 3,
        "user": None if kind is ChangeKind.DELETED else ADA,
        "changed_fields": ("email", "name") if kind is ChangeKind.UPDATED else (),
        "occurred_at": T,
        "traceparent": None,
    }
    return UserEvent(**(fields | overrides))


@pytest.mark.parametrize("kind", list(ChangeKind))
@pytest.mark.parametrize("redact", [False, True])
def test_every_event_the_service_builds_matches_the_schema(kind: ChangeKind, redact: bool) -> None:
    traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = orjson.loads(cloudevents.encode(_event(kind, traceparent=traced), "s", redact=redact))
    VALIDATOR.validate(body)
    assert body["type"] == f"users.v1.user.{kind.value}"
    assert body["time"] == "2026-12-04T10:00:00.123456Z"
    assert body["traceparent"] == traced
    if kind is ChangeKind.CREATED and not redact:
        assert body["data"]["email"] == "ada@example.com"
    if redact or kind is ChangeKind.DELETED:
        assert body["data"] == {"id": 42, "version": 3}


def test_the_schema_refuses_what_it_must() -> None:
    body = orjson.loads(cloudevents.encode(_event(ChangeKind.UPDATED), "s"))
    for broken in (
        {k: v for k, v in body.items() if k != "changedfields"},  # an update says what changed
        {**body, "type": "users.v1.user.renamed"},
        {**body, "data": {**body["data"], "password": "x"}},
    ):
        with pytest.raises(ValidationError):
            VALIDATOR.validate(broken)
