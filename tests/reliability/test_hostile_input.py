"""Hostile input: the one complete table. Each case must be a 4xx problem+json (never a
500), leak nothing (no trace, SQL, driver or path) and write nothing: three users are
seeded first and must be exactly as they were afterwards.

It runs on the memory backend and on PostgreSQL (where a NUL byte or an out-of-range
integer that slipped past validation would become a driver error).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from tests.support.reliability import Service, assert_problem, make_settings, serve
from users_service.entrypoints.http.cursors import CursorCodec

MiB = 1024 * 1024
# A syntax error is FastAPI's 422 (json_invalid); a body the parser gives up on (invalid
# UTF-8, nesting too deep, an integer over 4,300 digits) is a 400.
CODES = {400: "bad_request", 404: "not_found", 422: "validation_failed"}
JSON = {"Content-Type": "application/json"}
VALID = {"email": "new@example.com", "name": "New"}
SEEDED = ["seed0@example.com", "seed1@example.com", "seed2@example.com"]


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    code: str | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)


def body(**fields: Any) -> dict[str, Any]:
    return {**VALID, **fields}


def raw(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


def unsigned_token() -> str:
    """A token with `alg: none` and both scopes: it must be refused."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "1", "scope": "users:read users:write", "exp": int(time.time()) + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forged_token() -> str:
    """A well-formed token signed with a key the service does not know."""
    claims = {"sub": "1", "scope": "users:read users:write", "exp": int(time.time()) + 600}
    return jwt.encode(claims, "an-attacker-secret-that-is-long-enough-for-hs256!", "HS256")


LONG_LOCAL = "a" * 64
EMAIL_255 = f"{LONG_LOCAL}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com"  # 64 + 1 + 195 = 260
assert len(EMAIL_255) > 254

# ---- the table ------------------------------------------------------------------------

NAMES = [
    ("nul", "a\x00b"),
    ("bell", "a\x07b"),
    ("escape-sequence", "\x1b[31mred\x1b[0m"),
    ("delete-char", "a\x7fb"),
    ("c1-control", "a\x85b"),
    ("line-separator", "a\u2028b"),
    ("newline", "line\nbreak"),
    ("only-whitespace", "   \t  "),
    ("empty", ""),
    ("101-chars", "x" * 101),
    ("10000-chars", "x" * 10_000),
    ("900k-chars", "x" * 900_000),
    ("number", 42),
    ("null", None),
    ("list", ["a"]),
    ("object", {"a": "b"}),
    ("bool", True),
]
EMAILS = [
    ("nul", "a\x00b@example.com"),
    ("nul-in-domain", "ab@exa\x00mple.com"),
    ("crlf-header-injection", "a@example.com\r\nBcc: victim@example.com"),
    ("tab", "a\tb@example.com"),
    ("no-at", "plainaddress"),
    ("no-local", "@example.com"),
    ("no-domain", "a@"),
    ("no-tld", "a@localhost"),
    ("two-ats", "a@@example.com"),
    ("space", "a b@example.com"),
    ("leading-hyphen-domain", "a@-example.com"),
    ("empty-label", "a@example..com"),
    ("numeric-tld", "a@example.123"),
    ("markup", "<script>alert(1)</script>@example.com"),
    ("sql", "a'; DROP TABLE users; --@example.com"),
    ("local-65", f"{'a' * 65}@example.com"),
    ("total-255-plus", EMAIL_255),
    ("10000-chars", f"{'a' * 9_988}@example.com"),
    ("empty", ""),
    ("number", 42),
    ("null", None),
    ("list", ["a@example.com"]),
]
READ_ONLY = [
    ("id", 1),
    ("version", 7),
    ("created_at", "2020-01-01T00:00:00Z"),
    ("updated_at", "2020-01-01T00:00:00Z"),
]
# Digits out of range are a 422 naming the id; anything that is not digits matches no
# route at all (ids are `{user_id:int}`), so it is a 404 problem.
OUT_OF_RANGE_IDS = ["9223372036854775808", "18446744073709551616", "1" + "0" * 30, "0"]
NOT_AN_ID = ["-1", "abc", "1.5", "1e3", "%00", "0x10", "1;DROP%20TABLE%20users"]

CASES: list[Case] = [
    # names and emails: a 422 naming the field, on create, batch and patch
    *(
        Case(f"create-name-{i}", "POST", "/users", 422, "validation_failed", json=body(name=v))
        for i, v in NAMES
    ),
    *(
        Case(f"create-email-{i}", "POST", "/users", 422, "validation_failed", json=body(email=v))
        for i, v in EMAILS
    ),
    *(
        Case(f"patch-name-{i}", "PATCH", "/users/{id}", 422, "validation_failed", json={"name": v})
        for i, v in NAMES
        if i != "900k-chars"
    ),
    *(
        Case(
            f"patch-email-{i}", "PATCH", "/users/{id}", 422, "validation_failed", json={"email": v}
        )
        for i, v in EMAILS
    ),
    Case(
        "batch-name-nul",
        "POST",
        "/users/batch",
        422,
        "validation_failed",
        json={"users": [VALID, {"email": "b@example.com", "name": "a\x00"}]},
    ),
    Case(
        "batch-email-bad",
        "POST",
        "/users/batch",
        422,
        "validation_failed",
        json={"users": [VALID, {"email": "nope", "name": "B"}]},
    ),
    Case(
        "lone-surrogate-name",
        "POST",
        "/users",
        422,
        "validation_failed",
        content=b'{"email": "s@example.com", "name": "a\\ud800b"}',
        headers=JSON,
    ),
    Case(
        "lone-surrogate-email",
        "POST",
        "/users",
        422,
        "validation_failed",
        content=b'{"email": "a\\udfff@example.com", "name": "S"}',
        headers=JSON,
    ),
    # unknown and read-only fields
    Case(
        "create-unknown-field", "POST", "/users", 422, "validation_failed", json=body(is_admin=True)
    ),
    *(
        Case(
            f"create-read-only-{f}", "POST", "/users", 422, "validation_failed", json=body(**{f: v})
        )
        for f, v in READ_ONLY
    ),
    Case(
        "patch-unknown-field",
        "PATCH",
        "/users/{id}",
        422,
        "validation_failed",
        json={"name": "X", "role": "admin"},
    ),
    *(
        Case(
            f"patch-read-only-{f}",
            "PATCH",
            "/users/{id}",
            422,
            "validation_failed",
            json={"name": "X", f: v},
        )
        for f, v in READ_ONLY
    ),
    Case("patch-null-name", "PATCH", "/users/{id}", 422, "validation_failed", json={"name": None}),
    Case(
        "patch-null-email", "PATCH", "/users/{id}", 422, "validation_failed", json={"email": None}
    ),
    Case(
        "batch-unknown-field",
        "POST",
        "/users/batch",
        422,
        "validation_failed",
        json={"users": [VALID], "atomic": False},
    ),
    Case(
        "batch-item-read-only",
        "POST",
        "/users/batch",
        422,
        "validation_failed",
        json={"users": [body(id=5)]},
    ),
    # ids in paths: out of the 64-bit range or zero (422), not integers (404)
    *(
        Case(
            f"{m.lower()}-id-{bad}",
            m,
            f"/users/{bad}",
            422,
            "validation_failed",
            json={"name": "X"} if m == "PATCH" else None,
        )
        for m in ("GET", "PATCH", "DELETE")
        for bad in OUT_OF_RANGE_IDS
    ),
    *(
        Case(
            f"{m.lower()}-id-{bad}",
            m,
            f"/users/{bad}",
            404,
            "not_found",
            json={"name": "X"} if m == "PATCH" else None,
        )
        for m in ("GET", "PATCH", "DELETE")
        for bad in NOT_AN_ID
    ),
    # preconditions that cannot match: 412, nothing changes
    *(
        Case(
            f"{m.lower()}-if-match-{i}",
            m,
            "/users/{id}",
            412,
            "precondition_failed",
            json={"name": "X"} if m == "PATCH" else None,
            headers={"If-Match": v},
        )
        for m in ("PATCH", "DELETE")
        for i, v in [
            ("garbage", "garbage"),
            ("weak", 'W/"1"'),
            ("huge", '"' + "9" * 30 + '"'),
            ("negative", '"-1"'),
            ("empty", '""'),
        ]
    ),
    # malformed bodies
    *(
        Case(
            f"malformed-{i}",
            "POST",
            "/users",
            status,
            CODES[status],
            content=raw(text),
            headers=JSON,
        )
        for i, text, status in [
            ("truncated", '{"email": "a@example.com", "name": ', 422),
            ("not-json", "not json", 422),
            ("invalid-utf8", b'{"email": "\xff\xfe", "name": "A"}', 400),
            ("empty", "", 422),
            ("null", "null", 422),
            ("array", "[]", 422),
            ("string", '"a@example.com"', 422),
            ("single-quotes", "{'email': 'a@example.com', 'name': 'A'}", 422),
            ("trailing-comma", '{"email": "a@example.com", "name": "A",}', 422),
            ("trailing-data", '{"email": "a@example.com", "name": "A"} {}', 422),
            ("nan", '{"email": "a@example.com", "name": NaN}', 422),
            ("infinity", '{"email": "a@example.com", "name": Infinity}', 422),
            ("huge-integer", '{"email": "a@example.com", "name": ' + "9" * 5000 + "}", 400),
            ("huge-float", '{"email": "a@example.com", "name": 1e999999}', 422),
            ("nested-arrays-100k", nested(100_000), 400),
            ("nested-objects-100k", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400),
            ("nested-in-field", b'{"email": ' + nested(100_000) + b', "name": "x"}', 400),
        ]
    ),
    Case(
        "patch-malformed",
        "PATCH",
        "/users/{id}",
        422,
        "validation_failed",
        content=b"{",
        headers=JSON,
    ),
    Case(
        "batch-nested-100k",
        "POST",
        "/users/batch",
        400,
        "bad_request",
        content=b'{"users": ' + nested(100_000) + b"}",
        headers=JSON,
    ),
    # media types
    *(
        Case(
            f"content-type-{i}",
            m,
            p,
            415,
            "unsupported_media_type",
            content=json.dumps(b).encode(),
            headers=h,
        )
        for m, p, b in [
            ("POST", "/users", VALID),
            ("PATCH", "/users/{id}", {"name": "X"}),
            ("POST", "/users/batch", {"users": [VALID]}),
        ]
        for i, h in [
            (f"{m}-{p}-none".lower(), {}),
            (f"{m}-{p}-text".lower(), {"Content-Type": "text/plain"}),
            (f"{m}-{p}-form".lower(), {"Content-Type": "application/x-www-form-urlencoded"}),
            (f"{m}-{p}-multipart".lower(), {"Content-Type": "multipart/form-data; b=x"}),
            (f"{m}-{p}-xml".lower(), {"Content-Type": "application/xml"}),
            (f"{m}-{p}-jsonx".lower(), {"Content-Type": "application/jsonx"}),
        ]
    ),
    # sizes: a declared body over 1 MiB is refused before it is read
    Case(
        "create-over-1mib",
        "POST",
        "/users",
        413,
        "payload_too_large",
        content=json.dumps(body(name="x" * (MiB + 1))).encode(),
        headers=JSON,
    ),
    Case(
        "batch-over-1mib",
        "POST",
        "/users/batch",
        413,
        "payload_too_large",
        content=b'{"users": [' + b'{"email": "a@example.com", "name": "x"},' * 30_000 + b"{}]}",
        headers=JSON,
    ),
    Case(
        "patch-over-1mib",
        "PATCH",
        "/users/{id}",
        413,
        "payload_too_large",
        content=b" " * (MiB + 1),
        headers=JSON,
    ),
    # batches
    Case(
        "batch-1001",
        "POST",
        "/users/batch",
        422,
        "validation_failed",
        json={"users": [{"email": f"u{i}@example.com", "name": "U"} for i in range(1001)]},
    ),
    Case("batch-empty", "POST", "/users/batch", 422, "validation_failed", json={"users": []}),
    Case(
        "batch-not-a-list", "POST", "/users/batch", 422, "validation_failed", json={"users": VALID}
    ),
    Case(
        "batch-duplicates",
        "POST",
        "/users/batch",
        409,
        "email_already_registered",
        json={
            "users": [
                VALID,
                {"email": "other@example.com", "name": "O"},
                {"email": "NEW@example.com", "name": "N"},
            ]
        },
    ),
    Case(
        "batch-duplicate-of-stored",
        "POST",
        "/users/batch",
        409,
        "email_already_registered",
        json={"users": [VALID, {"email": "SEED1@example.com", "name": "S"}]},
    ),
    Case(
        "create-duplicate-of-stored",
        "POST",
        "/users",
        409,
        "email_already_registered",
        json=body(email="Seed0@Example.COM"),
    ),
    # listing: limits, cursors, filters
    *(
        Case(f"limit-{v}", "GET", f"/users?limit={v}", 422, "validation_failed")
        for v in ["0", "201", "-1", "abc", "", "1.5", "9" * 5000]
    ),
    *(
        Case(f"cursor-{i}", "GET", f"/users?{q}", status, code)
        for i, q, status, code in [
            ("random", "cursor=abc", 400, "invalid_cursor"),
            ("not-base64", "cursor=!!!!", 400, "invalid_cursor"),
            ("empty", "cursor=", 400, "invalid_cursor"),
            ("flipped", "cursor={flipped_cursor}", 400, "invalid_cursor"),
            ("truncated", "cursor={truncated_cursor}", 400, "invalid_cursor"),
            ("other-sort", "cursor={cursor}&sort=-id", 400, "invalid_cursor"),
            ("other-filter", "cursor={cursor}&email=seed0@example.com", 400, "invalid_cursor"),
            ("other-ids", "cursor={cursor}&id=1&id=2", 400, "invalid_cursor"),
            ("forged-id", "cursor={forged_cursor}", 400, "invalid_cursor"),
            ("nul", "cursor=%00", 400, "invalid_cursor"),
            ("over-200-chars", "cursor=" + "A" * 201, 422, "validation_failed"),
        ]
    ),
    *(
        Case(f"filter-{i}", "GET", f"/users?{q}", 422, "validation_failed")
        for i, q in [
            ("sort-unknown", "sort=name"),
            ("sort-injection", "sort=id;DROP%20TABLE%20users"),
            ("email-invalid", "email=nope"),
            ("email-nul", "email=a%00@example.com"),
            ("email-overlong", "email=" + "a" * 300 + "@example.com"),
            ("id-negative", "id=-1"),
            ("id-over-64-bit", "id=9223372036854775808"),
            ("id-not-int", "id=abc"),
            ("ids-201", "&".join(f"id={i}" for i in range(1, 202))),
        ]
    ),
    # headers: idempotency keys are 1 to 255 visible ASCII characters
    *(
        Case(
            f"idempotency-key-{i}",
            "POST",
            "/users",
            422,
            "validation_failed",
            json=VALID,
            headers={"Idempotency-Key": v},
        )
        for i, v in [
            ("256-chars", b"k" * 256),
            ("space", b"a b"),
            ("utf8", "é".encode()),
            ("empty", b""),
            ("nul", b"\x00"),
            ("del", b"\x7f"),
        ]
    ),
    # headers: tokens that must not authenticate anyone
    *(
        Case(f"token-{i}", "GET", "/users", 401, "invalid_token", headers={"Authorization": v})
        for i, v in [
            ("garbage", b"Bearer garbage"),
            ("basic", b"Basic YTpi"),
            ("10000-chars", b"Bearer " + b"a" * 10_000),
            ("nul", b"Bearer \x00"),
            ("utf8", "Bearer é".encode()),
            ("alg-none", f"Bearer {unsigned_token()}"),
            ("forged", f"Bearer {forged_token()}"),
        ]
    ),
    # routing
    Case("unknown-route", "GET", "/users/1/extra", 404, "not_found"),
    Case("method-put", "PUT", "/users/{id}", 405, "method_not_allowed", json=VALID),
    Case("method-trace", "TRACE", "/users", 405, "method_not_allowed"),
]


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


# ---- the harness ----------------------------------------------------------------------


class World:
    """One running app with three seeded users; rebuilt if a case changed anything, so
    one failure does not cascade into the cases after it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stack = AsyncExitStack()
        self.service: Service
        self.before: list[Any] = []

    async def build(self) -> None:
        await self.stack.aclose()
        self.service = await self.stack.enter_async_context(serve(make_settings(self.url)))
        for email in SEEDED:
            created = await self.service.client.post(
                "/users", json={"email": email, "name": "Seed"}
            )
            assert created.status_code == 201, created.text
        self.before = await snapshot(self.service.client)


@pytest.fixture(
    scope="module", params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="module")
async def world(backend_url: str) -> AsyncIterator[World]:
    world = World(backend_url)
    await world.build()
    try:
        yield world
    finally:
        await world.stack.aclose()


@pytest.fixture
async def seeded(world: World) -> AsyncIterator[tuple[Service, list[Any]]]:
    yield world.service, world.before
    if await snapshot(world.service.client) != world.before:
        await world.build()


async def snapshot(client: httpx.AsyncClient) -> list[Any]:
    response = await client.get("/users", params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def placeholders(client: httpx.AsyncClient, first_id: int) -> dict[str, str]:
    page = (await client.get("/users", params={"limit": 1})).json()
    cursor: str = page["next_cursor"]
    flipped = ("B" if cursor[0] == "A" else "A") + cursor[1:]
    # A cursor for an id no page ever ended on, signed with a key the service does not use.
    forged = CursorCodec(b"not-the-service-key").encode(first_id + 1, "id||")
    return {
        "id": str(first_id),
        "cursor": cursor,
        "flipped_cursor": flipped,
        "truncated_cursor": cursor[:-3],
        "forged_cursor": forged,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_input_is_a_clean_4xx_and_writes_nothing(
    seeded: tuple[Service, list[Any]], case: Case
) -> None:
    service, before = seeded
    values = await placeholders(service.client, before[0]["id"])
    path = case.path.format(**values)
    response = await service.client.request(
        case.method, path, json=case.json, content=case.content, headers=case.headers
    )
    assert 400 <= response.status_code < 500, response.text[:2000]
    problem = assert_problem(response, case.status, case.code)
    assert problem["title"]
    assert problem["detail"]
    assert problem["instance"] == response.request.url.path
    assert len(response.content) < 16_384, "the answer must not echo a big input"
    if case.status == 422 and case.code == "validation_failed":
        assert problem["errors"], problem
        for error in problem["errors"]:
            assert set(error) == {"loc", "msg", "type"}
    if case.status == 409:
        assert problem["conflicts"]
    assert await snapshot(service.client) == before, "a hostile request changed the data"


# ---- cases the table cannot express ---------------------------------------------------


async def test_batch_duplicates_are_all_named(seeded: tuple[Service, list[Any]]) -> None:
    service, before = seeded
    users = [
        {"email": "dup@example.com", "name": "A"},
        {"email": "solo@example.com", "name": "B"},
        {"email": "DUP@example.com", "name": "C"},
        {"email": "seed2@EXAMPLE.com", "name": "D"},
        {"email": "Dup@Example.com", "name": "E"},
    ]
    response = await service.client.post("/users/batch", json={"users": users})
    problem = assert_problem(response, 409, "email_already_registered")
    assert [c["index"] for c in problem["conflicts"]] == [0, 2, 3, 4]
    assert [c["email"].lower() for c in problem["conflicts"]] == [
        "dup@example.com",
        "dup@example.com",
        "seed2@example.com",
        "dup@example.com",
    ]
    assert await snapshot(service.client) == before


async def test_invalid_batch_item_is_located(seeded: tuple[Service, list[Any]]) -> None:
    service, before = seeded
    users = [{"email": f"i{i}@example.com", "name": "I"} for i in range(10)]
    users[7] = {"email": "i7@example.com", "name": "bad\x00name"}
    response = await service.client.post("/users/batch", json={"users": users})
    problem = assert_problem(response, 422, "validation_failed")
    assert [e["loc"] for e in problem["errors"]] == [["body", "users", 7, "name"]]
    assert await snapshot(service.client) == before


@pytest.mark.parametrize("path", ["/users", "/users/batch"])
async def test_streamed_body_over_limit_is_413_without_reading_it_all(
    seeded: tuple[Service, list[Any]], path: str
) -> None:
    service, before = seeded
    sent = 0
    chunks_total = 64  # 64 x 64 KiB = 4 MiB, if it were all read

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(chunks_total):
            sent += 1
            yield b" " * 65536

    response = await service.client.post(path, content=chunks(), headers=JSON)
    assert_problem(response, 413, "payload_too_large")
    assert sent <= MiB // 65536 + 2, f"read {sent} of {chunks_total} chunks"
    assert await snapshot(service.client) == before
