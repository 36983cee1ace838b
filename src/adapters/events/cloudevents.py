"""An outbox event as a CloudEvents 1.0 event, structured JSON mode.

The schema is `docs/events/user-event.schema.json` (and `docs/events/asyncapi.yaml`);
`SCHEMA_VERSION` names its version.

- A user's events: `data` is the user as the API returns it, `version` included, so that
  a consumer can order copies and drop stale ones; for a delete, the id and last version.
- A group's: `data` is the group as the API returns it; for a delete, its id and last
  version; for a member added or removed, `{"group_id", "user_id", "group_version"}`.

With `redact`, a user's or a group's `data` keeps ids and versions only.

Types and NATS subjects share one prefix (`EVENTS_SUBJECT_PREFIX`, `users.v1` by default):
`<prefix>.user.<created|updated|deleted>.<user id>` and
`<prefix>.group.<created|updated|deleted|member_added|member_removed>.<group id>`.
"""

from __future__ import annotations

from typing import Any

import orjson

from users_service.application.events import ChangeEvent, ChangeKind
from users_service.application.representation import group_dict, user_dict

SPEC_VERSION = "1.0"
SCHEMA_VERSION = "1.1.0"
DEFAULT_PREFIX = "users.v1"

# The event's name under its prefix: `user.created`, `group.member_added`, ...
_NAMES = {
    ChangeKind.CREATED: "user.created",
    ChangeKind.UPDATED: "user.updated",
    ChangeKind.DELETED: "user.deleted",
    ChangeKind.GROUP_CREATED: "group.created",
    ChangeKind.GROUP_UPDATED: "group.updated",
    ChangeKind.GROUP_DELETED: "group.deleted",
    ChangeKind.MEMBER_ADDED: "group.member_added",
    ChangeKind.MEMBER_REMOVED: "group.member_removed",
}
_DELETIONS = frozenset({ChangeKind.DELETED, ChangeKind.GROUP_DELETED})


def data_schema(kind: ChangeKind) -> str:
    resource = "group" if kind.about_group else "user"
    return f"urn:users-service:events:{resource}:{SCHEMA_VERSION}"


class EventNames:
    """Types and subjects under one prefix, each built once."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.stream_subjects = [f"{prefix}.user.>", f"{prefix}.group.>"]
        self._types = {kind: f"{prefix}.{name}" for kind, name in _NAMES.items()}
        self._subjects = {kind: f"{prefix}.{name}." for kind, name in _NAMES.items()}

    def event_type(self, kind: ChangeKind) -> str:
        return self._types[kind]

    def nats_subject(self, event: ChangeEvent) -> str:
        return f"{self._subjects[event.kind]}{event.subject_id}"

    def envelope(self, event: ChangeEvent, source: str, *, redact: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": event.event_id,
            "source": source,
            "type": self._types[event.kind],
            "subject": str(event.subject_id),
            "time": event.occurred_at,
            "datacontenttype": "application/json",
            "dataschema": data_schema(event.kind),
            "data": _data(event, redact),
        }
        if event.kind in (ChangeKind.UPDATED, ChangeKind.GROUP_UPDATED):
            body["changedfields"] = ",".join(event.changed_fields)
        if event.traceparent:
            body["traceparent"] = event.traceparent
        return body

    def encode(self, event: ChangeEvent, source: str, *, redact: bool = False) -> bytes:
        return orjson.dumps(self.envelope(event, source, redact=redact), option=orjson.OPT_UTC_Z)


def _data(event: ChangeEvent, redact: bool) -> dict[str, Any]:
    if event.member_id is not None:
        return {
            "group_id": event.subject_id,
            "user_id": event.member_id,
            "group_version": event.version,
        }
    if event.kind in _DELETIONS or redact:
        return {"id": event.subject_id, "version": event.version}
    if event.group is not None:
        return group_dict(event.group)
    if event.user is not None:
        return user_dict(event.user)
    raise ValueError(f"a {event.kind.value} event without its snapshot")
