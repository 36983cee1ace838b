"""The groups' part of the benchmark: a group of 100,000 members (every seeded user), an
empty group, five teams (each seeded user is in one, so a page of users with their groups
carries two groups a user), and 50,000 outsiders that the membership benchmarks add.

Before each run of an adding endpoint the outsiders leave both groups again, so that every
run, of the service or of the ceiling, starts from the same state and its PUTs are real
additions (a random pick repeats a few times in a run, alike for both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from config import Config
from database import SEED_COLUMNS

BIG_MEMBERS = 100_000
OUTSIDERS = 50_000
TEAMS = 5


@dataclass(frozen=True, slots=True)
class Groups:
    big: int
    empty: int
    outsider_lo: int
    outsider_hi: int


async def seed(config: Config, lowest: int, highest: int) -> Groups:
    """After the users' seed: the groups, their memberships, and the outsiders."""
    if highest - lowest + 1 < BIG_MEMBERS:
        raise ValueError(f"the big group needs {BIG_MEMBERS:,} seeded users (BENCH_SEED_ROWS)")
    now = datetime.now(UTC)
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        async with connection.transaction():
            insert = (
                "INSERT INTO groups (name, description, member_count, created_at, updated_at, "
                "version) VALUES ($1, $2, $3, $4, $4, 1) RETURNING id"
            )
            big = await connection.fetchval(insert, "Everyone", "The big group", 0, now)
            empty = await connection.fetchval(insert, "Newcomers", None, 0, now)
            teams = [
                await connection.fetchval(insert, f"Team {i}", None, 0, now) for i in range(TEAMS)
            ]
            members = lowest + BIG_MEMBERS - 1
            await connection.execute(
                "INSERT INTO group_members (group_id, user_id) SELECT $1, id FROM users "
                "WHERE id BETWEEN $2 AND $3",
                big,
                lowest,
                members,
            )
            await connection.execute(
                "INSERT INTO group_members (group_id, user_id) "
                "SELECT ($1::bigint[])[1 + id % $2], id FROM users WHERE id BETWEEN $3 AND $4",
                teams,
                TEAMS,
                lowest,
                highest,
            )
            await connection.execute(
                "UPDATE groups SET member_count = (SELECT count(*) FROM group_members "
                "WHERE group_id = groups.id)"
            )
        records = (
            (f"outsider{i:07d}@example.com", f"Outsider {i}", now, now, 1)
            for i in range(1, OUTSIDERS + 1)
        )
        await connection.copy_records_to_table("users", records=records, columns=SEED_COLUMNS)
        lo, hi = await connection.fetchrow(
            "SELECT min(id), max(id) FROM users WHERE email LIKE 'outsider%'"
        )
        await connection.execute("VACUUM ANALYZE users")
        await connection.execute("VACUUM ANALYZE groups")
        await connection.execute("VACUUM ANALYZE group_members")
    finally:
        await connection.close()
    return Groups(int(big), int(empty), int(lo), int(hi))


async def reset(config: Config, groups: Groups) -> None:
    """The outsiders leave both groups, whose counts go back to what they were."""
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        async with connection.transaction():
            # The groups' rows first, as the service locks them before their memberships:
            # a request of the last run still finishing then waits, and never deadlocks.
            await connection.execute(
                "SELECT id FROM groups WHERE id IN ($1, $2) ORDER BY id FOR UPDATE",
                groups.big,
                groups.empty,
            )
            await connection.execute(
                "DELETE FROM group_members WHERE group_id = ANY($1::bigint[]) "
                "AND user_id BETWEEN $2 AND $3",
                [groups.big, groups.empty],
                groups.outsider_lo,
                groups.outsider_hi,
            )
            await connection.execute(
                "UPDATE groups SET member_count = CASE WHEN id = $1 THEN $3 ELSE 0 END "
                "WHERE id IN ($1, $2)",
                groups.big,
                groups.empty,
                BIG_MEMBERS,
            )
    finally:
        await connection.close()
