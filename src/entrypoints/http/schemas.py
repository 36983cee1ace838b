"""Request and response bodies. Pydantic lives here, at the edge, and nowhere else.

Bodies are checked here for shape (fields, types, sane lengths). Values are the use
cases' to judge: emails by the one email authority (`application.emails`), names by the
domain's `Name`; every value they refuse is listed in one 422, each naming its field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from users_service.application.users.register import MAX_BATCH_SIZE
from users_service.domain.group import MAX_MEMBER_CHANGES
from users_service.domain.values import MAX_DESCRIPTION_LENGTH, MAX_EMAIL_LENGTH, MAX_NAME_LENGTH

# Cheap bounds first, so a 10 MB name is refused before any work is done on it.
_LONGEST_NAME_INPUT = 1000


# The OpenAPI schema states the rules the validators of this module enforce, so that a client (or a
# property-based test) that follows the schema is never refused. Documentation only: the
# validators stay the authority.
# Emails: an address (format), and email-validator refuses special-use domains (.test...).
_SPECIAL_USE_NAMES = "|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in name)
    for name in SPECIAL_USE_DOMAIN_NAMES
)
_SPECIAL_USE_DOMAIN = rf"\.({_SPECIAL_USE_NAMES})$"
_EMAIL_SCHEMA = {"format": "email", "not": {"pattern": _SPECIAL_USE_DOMAIN}}
# Names: what Name.parse accepts: 1 to 100 characters with no control character, possibly
# surrounded by whitespace (as str.strip() sees it, trimmed), in at most _LONGEST_NAME_INPUT.
_SPACE = r"\s\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_NAME_PATTERN = (
    rf"^[{_SPACE}]*[^{_SPACE}{_CONTROL}][^{_CONTROL}]{{0,{MAX_NAME_LENGTH - 1}}}[{_SPACE}]*$"
)

EmailIn = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_EMAIL_LENGTH),
    Field(examples=["Ada.Lovelace@example.com"], json_schema_extra=_EMAIL_SCHEMA),
]
EmailFilter = Annotated[
    str,
    StringConstraints(max_length=MAX_EMAIL_LENGTH),
    Field(json_schema_extra=_EMAIL_SCHEMA),
]
"""An email as a list filter (the use case parses it and matches case-insensitively)."""
NameIn = Annotated[
    str,
    StringConstraints(max_length=_LONGEST_NAME_INPUT),
    Field(
        description="1 to 100 characters after trimming, no control characters",
        examples=["Ada Lovelace"],
        json_schema_extra={"minLength": 1, "pattern": _NAME_PATTERN},
    ),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "ada@example.com", "name": "Ada Lovelace"}]},
    )

    email: EmailIn
    name: NameIn


class UserPatch(BaseModel):
    """A JSON merge patch: send the fields to change. `null` is refused (both are required)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Augusta Ada King"}]}
    )

    # Absent means "keep"; the schema does not offer null, which is refused (a 422).
    email: EmailIn | SkipJsonSchema[None] = None
    name: NameIn | SkipJsonSchema[None] = None

    @field_validator("email", "name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent: absent means "keep", null is refused.
        if value is None:
            raise ValueError("cannot be null: the field is required")
        return value


class BatchCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "users": [
                        {"email": "ada@example.com", "name": "Ada Lovelace"},
                        {"email": "grace@example.com", "name": "Grace Hopper"},
                    ]
                }
            ]
        },
    )

    users: list[UserCreate] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "email": "Ada.Lovelace@example.com",
                    "name": "Ada Lovelace",
                    "created_at": "2026-11-26T12:00:00.123456Z",
                    "updated_at": "2026-11-26T12:00:00.123456Z",
                    "version": 1,
                }
            ]
        }
    )

    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
    version: int


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class UserList(BaseModel):
    items: list[UserOut]


# Descriptions: what Description.parse accepts: at most 1,000 characters once trimmed, line
# breaks and tabs inside, no other control character.
_TEXT_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"
_DESCRIPTION_PATTERN = (
    rf"^[{_SPACE}]*([^{_SPACE}{_TEXT_CONTROL}]"
    rf"([^{_TEXT_CONTROL}]{{0,{MAX_DESCRIPTION_LENGTH - 2}}}[^{_SPACE}{_TEXT_CONTROL}])?)?"
    rf"[{_SPACE}]*$"
)
DescriptionIn = Annotated[
    str,
    StringConstraints(max_length=4 * MAX_DESCRIPTION_LENGTH),
    Field(
        description="At most 1,000 characters after trimming; tabs and line breaks allowed",
        examples=["Everyone who ships code"],
        json_schema_extra={"pattern": _DESCRIPTION_PATTERN},
    ),
]
# A user id in a JSON body: a JSON-safe integer (what every JSON parser reads exactly).
UserIdIn = Annotated[int, Field(ge=1, le=2**53 - 1)]


class GroupCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Engineering", "description": "Everyone who ships code"}]
        },
    )

    name: NameIn
    description: DescriptionIn | None = None


class GroupPatch(BaseModel):
    """A JSON merge patch: `name` cannot be null; `description: null` clears it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"description": "Ships code"}]}
    )

    name: NameIn | SkipJsonSchema[None] = None
    description: DescriptionIn | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null: the field is required")
        return value


class GroupOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "name": "Engineering",
                    "description": "Everyone who ships code",
                    "member_count": 1234,
                    "created_at": "2026-12-05T09:00:00.000000Z",
                    "updated_at": "2026-12-05T09:30:00.000000Z",
                    "version": 3,
                }
            ]
        }
    )

    id: int
    name: str
    description: str | None
    member_count: int
    created_at: datetime
    updated_at: datetime
    version: int


class GroupPage(BaseModel):
    items: list[GroupOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class MemberChangesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"add": [42, 43], "remove": [44]}]}
    )

    add: list[UserIdIn] = Field(default_factory=list, max_length=MAX_MEMBER_CHANGES)
    remove: list[UserIdIn] = Field(default_factory=list, max_length=MAX_MEMBER_CHANGES)


class MemberChangesOut(BaseModel):
    added: list[int] = Field(description="The users newly added")
    removed: list[int] = Field(description="The users really removed")
    group: GroupOut


class GroupReferenceOut(BaseModel):
    id: int
    name: str


class UserWithGroupsOut(UserOut):
    """A user read with `expand=groups`."""

    groups: list[GroupReferenceOut] = Field(description="Its first 100 groups by id")
    groups_complete: bool = Field(
        description="False when it has more (the rest: `GET /users/{id}/groups`)"
    )


class UserWithGroupsPage(BaseModel):
    items: list[UserWithGroupsOut]
    next_cursor: str | None


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class EmailConflictOut(BaseModel):
    index: int
    email: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://users.example/problems/email-already-registered",
                    "title": "Email already registered",
                    "status": 409,
                    "detail": "A user with email 'ada@example.com' already exists.",
                    "instance": "/users",
                    "code": "email_already_registered",
                    "request_id": "5f0c2b8e9a9d4d7e8b1f3c2a1d0e9f8a",
                    "conflicts": [{"index": 0, "email": "ada@example.com"}],
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    request_id: str
    errors: list[ValidationErrorItem] | None = None
    conflicts: list[EmailConflictOut] | None = None
