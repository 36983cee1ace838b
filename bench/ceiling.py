"""The ceiling: the same endpoints on Starlette and a raw asyncpg pool.

Same SQL (writes include their outbox events, as the service's do by default), same JSON
(orjson, same fields, OPT_UTC_Z), same headers (ETag, Location, Link), happy path only:
no validation beyond what the SQL needs. Cursors are plain
base64 of the last id. Run: `python bench/ceiling.py --port 8102` with CEILING_DSN set.
"""

from __future__ import annotations

import argparse
import base64
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

GET_SQL = "SELECT id, email, name, created_at, updated_at, version FROM users WHERE id = $1"
PAGE_SQL = (
    "SELECT id, email, name, created_at, updated_at, version FROM users "
    "WHERE id > $1 ORDER BY id LIMIT $2"
)
_INSERT = (
    "INSERT INTO users (email, name, created_at, updated_at, version) "
    "VALUES ($1, $2, $3, $4, 1) ON CONFLICT DO NOTHING "
    "RETURNING id, email, name, created_at, updated_at, version"
)
_INSERT_UNNEST = (
    "INSERT INTO users (email, name, created_at, updated_at, version) "
    "SELECT e, n, $3, $3, 1 FROM unnest($1::varchar[], $2::varchar[]) AS t(e, n) "
    "ON CONFLICT DO NOTHING RETURNING id, email, name, created_at, updated_at, version"
)
# As the service writes users with events on (its default, EVENTS_ENABLED=true): the
# insert and each stored user's `created` event in the outbox, in one statement.
_EVENTS = (
    "events AS (INSERT INTO outbox (event_id, kind, user_id, version, email, name, "
    "created_at, updated_at, occurred_at) SELECT gen_random_uuid()::varchar, 'created', id, "
    "version, email, name, created_at, updated_at, created_at FROM inserted) "
    "SELECT id, email, name, created_at, updated_at, version FROM inserted"
)
_INSERT_WITH_EVENTS = "WITH inserted AS (" + _INSERT + "), " + _EVENTS
_INSERT_UNNEST_WITH_EVENTS = "WITH inserted AS (" + _INSERT_UNNEST + "), " + _EVENTS
# CEILING_EVENTS=off: the insert alone, as the service with EVENTS_ENABLED=false.
WITH_EVENTS = os.environ.get("CEILING_EVENTS", "on") == "on"
INSERT_SQL = _INSERT_WITH_EVENTS if WITH_EVENTS else _INSERT
INSERT_UNNEST_SQL = _INSERT_UNNEST_WITH_EVENTS if WITH_EVENTS else _INSERT_UNNEST
# Groups: the service's statements, as its adapter compiles them.
MEMBER_PAGE_SQL = (
    "SELECT 1 AS marker, page.id, page.email, page.name, page.created_at, page.updated_at, "
    "page.version FROM (SELECT users.id AS id, users.email AS email, users.name AS name, "
    "users.created_at AS created_at, users.updated_at AS updated_at, users.version AS version "
    "FROM group_members JOIN users ON users.id = group_members.user_id "
    "WHERE group_members.group_id = $1::BIGINT ORDER BY group_members.user_id "
    "LIMIT $2::INTEGER) AS page UNION ALL SELECT 0, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM groups WHERE groups.id = $1::BIGINT ORDER BY marker DESC, id"
)
LOCK_GROUP_SQL = (
    "SELECT id, name, description, member_count, created_at, updated_at, version "
    "FROM groups WHERE id = $1 FOR UPDATE"
)
# The locked group's change of members, its count and its events, in one statement.
_CHANGE = (
    "WITH added AS (INSERT INTO group_members (group_id, user_id) SELECT $1::BIGINT, users.id "
    "FROM users WHERE users.id = any($2::BIGINT[]) ON CONFLICT DO NOTHING "
    "RETURNING group_members.user_id), "
    "removed AS (DELETE FROM group_members WHERE group_members.group_id = $1::BIGINT "
    "AND group_members.user_id = any($3::BIGINT[]) RETURNING group_members.user_id), "
    "moved AS (UPDATE groups SET member_count = groups.member_count "
    "+ (SELECT count(*) FROM added) - (SELECT count(*) FROM removed), updated_at = $4, "
    "version = groups.version + 1 WHERE groups.id = $1::BIGINT "
    "AND (SELECT count(*) FROM added) + (SELECT count(*) FROM removed) > 0 "
    "RETURNING groups.id, groups.name, groups.description, groups.member_count, "
    "groups.created_at, groups.updated_at, groups.version)"
)
_CHANGE_EVENTS = (
    ", events AS (INSERT INTO outbox (event_id, kind, user_id, version, member_id, "
    "traceparent, occurred_at) SELECT gen_random_uuid()::varchar, 'member_added', moved.id, "
    "moved.version, added.user_id, NULL, $4 FROM moved, added UNION ALL "
    "SELECT gen_random_uuid()::varchar, 'member_removed', moved.id, moved.version, "
    "removed.user_id, NULL, $4 FROM moved, removed)"
)
_CHANGE_RESULT = (
    " SELECT moved.*, (SELECT array_agg(user_id ORDER BY user_id) FROM added) AS added_ids, "
    "(SELECT array_agg(user_id ORDER BY user_id) FROM removed) AS removed_ids FROM moved"
)
EXISTING_USERS_SQL = "SELECT id FROM users WHERE id = any($1::BIGINT[])"
GROUP_REFERENCES_SQL = (
    "SELECT ranked.user_id, ranked.group_id, ranked.name FROM (SELECT group_members.user_id "
    "AS user_id, groups.id AS group_id, groups.name AS name, row_number() OVER (PARTITION BY "
    "group_members.user_id ORDER BY group_members.group_id) AS rank FROM group_members JOIN "
    "groups ON groups.id = group_members.group_id WHERE group_members.user_id = "
    "any($1::BIGINT[])) AS ranked WHERE ranked.rank <= $2::INTEGER "
    "ORDER BY ranked.user_id, ranked.group_id"
)
GROUPS_SHOWN = 100
CHANGE_MEMBERS_SQL = _CHANGE + (_CHANGE_EVENTS if WITH_EVENTS else "") + _CHANGE_RESULT
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_JSON = orjson.OPT_UTC_Z
_pool: asyncpg.Pool | None = None


def pool() -> asyncpg.Pool:
    if _pool is None:
        raise RuntimeError("the pool is not open")
    return _pool


def user_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
    }


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body, option=_JSON),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def problem(status: int, title: str) -> Response:
    return Response(
        orjson.dumps({"status": status, "title": title}),
        status_code=status,
        media_type="application/problem+json",
    )


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(str(after_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


async def get_user(request: Request) -> Response:
    row = await pool().fetchrow(GET_SQL, request.path_params["user_id"])
    if row is None:
        return problem(404, "Not Found")
    return json_response(user_dict(row), headers={"ETag": f'"{row["version"]}"'})


async def list_users(request: Request) -> Response:
    limit = min(int(request.query_params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    cursor = request.query_params.get("cursor")
    after_id = decode_cursor(cursor) if cursor else 0
    rows = await pool().fetch(PAGE_SQL, after_id, limit + 1)
    items = [user_dict(row) for row in rows[:limit]]
    if request.query_params.get("expand") == "groups":
        ids = [item["id"] for item in items]
        found: dict[int, list[dict[str, Any]]] = {}
        for user_id, group_id, name in await pool().fetch(
            GROUP_REFERENCES_SQL, ids, GROUPS_SHOWN + 1
        ):
            found.setdefault(user_id, []).append({"id": group_id, "name": name})
        for item in items:
            groups = found.get(item["id"], [])
            item["groups"] = groups[:GROUPS_SHOWN]
            item["groups_complete"] = len(groups) <= GROUPS_SHOWN
    headers: dict[str, str] = {}
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["id"])
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response({"items": items, "next_cursor": next_cursor}, headers=headers)


async def create_user(request: Request) -> Response:
    body = orjson.loads(await request.body())
    now = datetime.now(UTC)
    async with pool().acquire() as connection, connection.transaction():
        row = await connection.fetchrow(INSERT_SQL, body["email"], body["name"], now, now)
    if row is None:
        return problem(409, "Conflict")
    headers = {"ETag": f'"{row["version"]}"', "Location": f"/users/{row['id']}"}
    return json_response(user_dict(row), status_code=201, headers=headers)


async def list_members(request: Request) -> Response:
    limit = min(int(request.query_params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    rows = await pool().fetch(MEMBER_PAGE_SQL, request.path_params["group_id"], limit + 1)
    if not rows or rows[-1]["marker"] != 0:
        return problem(404, "Not Found")
    members = rows[:-1]
    items = [user_dict(row) for row in members[:limit]]
    headers: dict[str, str] = {}
    next_cursor = None
    if len(members) > limit:
        next_cursor = encode_cursor(items[-1]["id"])
        headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    return json_response({"items": items, "next_cursor": next_cursor}, headers=headers)


async def add_member(request: Request) -> Response:
    group_id, user_id = request.path_params["group_id"], request.path_params["user_id"]
    now = datetime.now(UTC)
    async with pool().acquire() as connection, connection.transaction():
        group = await connection.fetchrow(LOCK_GROUP_SQL, group_id)
        if group is None:
            return problem(404, "Not Found")
        moved = await connection.fetch(CHANGE_MEMBERS_SQL, group_id, [user_id], [], now)
        if not moved and not await connection.fetch(EXISTING_USERS_SQL, [user_id]):
            return problem(404, "Not Found")
    return Response(status_code=204)


class _Conflict(Exception):
    pass


async def _insert_many(users: Sequence[Mapping[str, str]]) -> list[asyncpg.Record]:
    now = datetime.now(UTC)
    async with pool().acquire() as connection, connection.transaction():
        if BATCH_MODE == "unnest":
            emails = [u["email"] for u in users]
            names = [u["name"] for u in users]
            rows: list[asyncpg.Record] = await connection.fetch(
                INSERT_UNNEST_SQL, emails, names, now
            )
        else:  # executemany, returning the rows (asyncpg's fetchmany)
            args = [(u["email"], u["name"], now, now) for u in users]
            rows = await connection.fetchmany(INSERT_SQL, args)
        if len(rows) != len(users):
            raise _Conflict  # leaving the block rolls the whole batch back
    return rows


async def create_users_batch(request: Request) -> Response:
    body = orjson.loads(await request.body())
    try:
        rows = await _insert_many(body["users"])
    except _Conflict:
        return problem(409, "Conflict")
    return json_response({"items": [user_dict(row) for row in rows]}, status_code=201)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(
        os.environ["CEILING_DSN"],
        min_size=10,
        max_size=20,
        server_settings={"application_name": "users-ceiling", "jit": "off"},
    )
    try:
        yield
    finally:
        await _pool.close()
        _pool = None


BATCH_MODE = os.environ.get("CEILING_BATCH", "executemany")

app = Starlette(
    routes=[
        Route("/users", list_users, methods=["GET"]),
        Route("/users", create_user, methods=["POST"]),
        Route("/users/batch", create_users_batch, methods=["POST"]),
        Route("/users/{user_id:int}", get_user, methods=["GET"]),
        Route("/groups/{group_id:int}/members", list_members, methods=["GET"]),
        Route("/groups/{group_id:int}/members/{user_id:int}", add_member, methods=["PUT"]),
    ],
    lifespan=lifespan,
)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
