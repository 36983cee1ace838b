"""The events' documented schemas: the AsyncAPI 3 document is valid against the AsyncAPI
3.0.0 JSON Schema (vendored), its examples against the payload schemas, and every kind of
event the service builds against its payload schema too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft7Validator, ValidationError

from users_service.adapters.events import cloudevents
from users_service.application.events import ChangeEvent, ChangeKind
from users_service.domain.group import Group
from users_service.domain.user import User
from users_service.domain.values import Description, Email, Name

EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"
PAYLOAD = orjson.loads((EVENTS / "user-event.schema.json").read_bytes())
VALIDATOR = Draft7Validator(PAYLOAD, format_checker=Draft7Validator.FORMAT_CHECKER)
GROUP_VALIDATOR = Draft7Validator(
    orjson.loads((EVENTS / "group-event.schema.json").read_bytes()),
    format_checker=Draft7Validator.FORMAT_CHECKER,
)
T = datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)
ADA = User(42, Email("ada@example.com"), Name("Ada"), T, T, 3)
ENGINEERING = Group(7, Name("Engineering"), Description("Ships code"), 12, T, T, 3)
NAMES = cloudevents.EventNames()


def _asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EVENTS / "asyncapi.yaml").read_text())
    return document


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = orjson.loads((EVENTS / "vendor" / "asyncapi-3.0.0.schema.json").read_bytes())
    Draft7Validator(schema).validate(_asyncapi())
    assert _asyncapi()["info"]["version"] == cloudevents.SCHEMA_VERSION
    assert PAYLOAD["$id"].endswith(cloudevents.SCHEMA_VERSION)


def test_the_asyncapi_document_is_checked_for_real() -> None:
    schema = orjson.loads((EVENTS / "vendor" / "asyncapi-3.0.0.schema.json").read_bytes())
    broken = _asyncapi()
    broken["operations"]["publishUserCreated"]["action"] = "emit"  # not send or receive
    with pytest.raises(ValidationError):
        Draft7Validator(schema).validate(broken)


def test_the_documented_examples_match_the_payload_schemas() -> None:
    messages = _asyncapi()["components"]["messages"]
    [user_example] = messages["userEvent"]["examples"]
    VALIDATOR.validate(user_example["payload"])
    [group_example] = messages["groupEvent"]["examples"]
    GROUP_VALIDATOR.validate(group_example["payload"])


def test_every_kind_has_its_channel() -> None:
    addresses = {channel["address"] for channel in _asyncapi()["channels"].values()}
    for kind in ChangeKind:
        event = _event(kind)
        assert NAMES.nats_subject(event).replace(str(event.subject_id), "{id}") in {
            address.replace("{userId}", "{id}").replace("{groupId}", "{id}")
            for address in addresses
        }


_USER_KINDS = frozenset({ChangeKind.CREATED, ChangeKind.UPDATED, ChangeKind.DELETED})
_MEMBER_KINDS = frozenset({ChangeKind.MEMBER_ADDED, ChangeKind.MEMBER_REMOVED})


def _event(kind: ChangeKind, **overrides: Any) -> ChangeEvent:
    about_user = kind in _USER_KINDS
    snapshot = kind not in (ChangeKind.DELETED, ChangeKind.GROUP_DELETED, *_MEMBER_KINDS)
    fields: dict[str, Any] = {
        "position": 1,
        "event_id": "7c1e6a52-3b0e-4c33-9d6e-2f6a0c1f8e4d",
        "kind": kind,
        "subject_id": 42 if about_user else 7,
        "version": 3,
        "user": ADA if about_user and snapshot else None,
        "group": ENGINEERING if not about_user and snapshot else None,
        "member_id": 42 if kind in _MEMBER_KINDS else None,
        "changed_fields": (
            ("email", "name")
            if kind is ChangeKind.UPDATED
            else ("description",)
            if kind is ChangeKind.GROUP_UPDATED
            else ()
        ),
        "occurred_at": T,
        "traceparent": None,
    }
    return ChangeEvent(**(fields | overrides))


@pytest.mark.parametrize("kind", list(ChangeKind))
@pytest.mark.parametrize("redact", [False, True])
def test_every_event_the_service_builds_matches_the_schema(kind: ChangeKind, redact: bool) -> None:
    traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = orjson.loads(NAMES.encode(_event(kind, traceparent=traced), "s", redact=redact))
    assert body["time"] == "2026-12-04T10:00:00.123456Z"
    assert body["traceparent"] == traced
    if kind in _USER_KINDS:
        VALIDATOR.validate(body)
        assert body["type"] == f"users.v1.user.{kind.value}"
        if kind is ChangeKind.CREATED and not redact:
            assert body["data"]["email"] == "ada@example.com"
        if redact or kind is ChangeKind.DELETED:
            assert body["data"] == {"id": 42, "version": 3}
        return
    GROUP_VALIDATOR.validate(body)
    assert body["type"] == "users.v1.group." + kind.value.removeprefix("group_")
    assert body["subject"] == "7"
    if kind in _MEMBER_KINDS:
        assert body["data"] == {"group_id": 7, "user_id": 42, "group_version": 3}
    elif redact or kind is ChangeKind.GROUP_DELETED:
        assert body["data"] == {"id": 7, "version": 3}
    else:
        assert body["data"]["member_count"] == 12


def test_a_prefix_names_every_subject_and_type() -> None:
    names = cloudevents.EventNames("staging.users")
    event = _event(ChangeKind.MEMBER_ADDED)
    assert names.nats_subject(event) == "staging.users.group.member_added.7"
    assert names.envelope(event, "s")["type"] == "staging.users.group.member_added"
    assert names.stream_subjects == ["staging.users.user.>", "staging.users.group.>"]


def test_the_schemas_refuse_what_they_must() -> None:
    body = orjson.loads(NAMES.encode(_event(ChangeKind.UPDATED), "s"))
    for broken in (
        {k: v for k, v in body.items() if k != "changedfields"},  # an update says what changed
        {**body, "type": "users.v1.user.renamed"},
        {**body, "data": {**body["data"], "password": "x"}},
    ):
        with pytest.raises(ValidationError):
            VALIDATOR.validate(broken)
    member = orjson.loads(NAMES.encode(_event(ChangeKind.MEMBER_REMOVED), "s"))
    created = orjson.loads(NAMES.encode(_event(ChangeKind.GROUP_CREATED), "s"))
    for broken in (
        {**member, "data": created["data"]},  # a member event carries its member
        {**created, "data": member["data"]},
        {**created, "changedfields": "name"},
        {**member, "data": {**member["data"], "user_id": 0}},
    ):
        with pytest.raises(ValidationError):
            GROUP_VALIDATOR.validate(broken)
