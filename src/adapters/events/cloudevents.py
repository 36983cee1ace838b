"""An outbox event as a CloudEvents 1.0 event, structured JSON mode.

The schema is `docs/events/user-event.schema.json` (and `docs/events/asyncapi.yaml`);
`SCHEMA_VERSION` names its version. `data` is the user as the API returns it, `version`
included, so that a consumer can order copies and drop stale ones; for a delete, the id
and last version. With `redact`, `data` keeps ids and versions only.
"""

from __future__ import annotations

from typing import Any

import orjson

from users_service.application.events import ChangeKind, UserEvent
from users_service.application.representation import user_dict

SPEC_VERSION = "1.0"
SCHEMA_VERSION = "1.0.0"
TYPE_PREFIX = "users.v1.user."
SUBJECT_PREFIX = "users.v1.user."  # NATS subject: users.v1.user.<kind>.<user id>


_TYPES = {kind: f"{TYPE_PREFIX}{kind.value}" for kind in ChangeKind}
_SUBJECTS = {kind: f"{SUBJECT_PREFIX}{kind.value}." for kind in ChangeKind}
DATA_SCHEMA = f"urn:users-service:events:user:{SCHEMA_VERSION}"


def event_type(kind: ChangeKind) -> str:
    return _TYPES[kind]


def nats_subject(event: UserEvent) -> str:
    return f"{_SUBJECTS[event.kind]}{event.user_id}"


def envelope(event: UserEvent, source: str, *, redact: bool = False) -> dict[str, Any]:
    data: dict[str, Any]
    if event.user is None or redact:
        data = {"id": event.user_id, "version": event.version}
    else:
        data = user_dict(event.user)
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.event_id,
        "source": source,
        "type": event_type(event.kind),
        "subject": str(event.user_id),
        "time": event.occurred_at,
        "datacontenttype": "application/json",
        "dataschema": DATA_SCHEMA,
        "data": data,
    }
    if event.kind is ChangeKind.UPDATED:
        body["changedfields"] = ",".join(event.changed_fields)
    if event.traceparent:
        body["traceparent"] = event.traceparent
    return body


def encode(event: UserEvent, source: str, *, redact: bool = False) -> bytes:
    return orjson.dumps(envelope(event, source, redact=redact), option=orjson.OPT_UTC_Z)
