"""`users-service export-groups` and `import-groups`, run as real processes: a restore into
an empty database brings every group and member back, with ids and timestamps kept; a run
again changes nothing; members that are no users are reported, never guessed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.test_import_cli import VALID, _csv_file, _export, _fresh, _run
from tests.support.clock import SteppingClock
from tests.support.databases import database_for
from tests.support.principals import GROUPS_ADMIN
from users_service.adapters.sqlalchemy import SqlAlchemyUnitOfWorkFactory
from users_service.application.groups.membership import ChangeMembers
from users_service.application.groups.writing import CreateGroup


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _cli(database_url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from tests.support.environment import clean_environment

    env = clean_environment(folder, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "users_service.entrypoints.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql))]
    finally:
        await engine.dispose()


GROUPS = (
    "SELECT id, name, description, member_count, created_at, updated_at FROM groups ORDER BY id"
)
MEMBERS = "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id"


async def test_a_restore_brings_every_group_and_member_back(
    database_url: str, tmp_path: Path
) -> None:
    await _fresh(database_url)
    _csv_file(tmp_path / "users.csv", VALID)
    assert _run(database_url, tmp_path, "users.csv", "--quiet").returncode == 0
    database = database_for(database_url)
    try:
        uow = SqlAlchemyUnitOfWorkFactory(database)
        create, change = CreateGroup(uow, SteppingClock()), ChangeMembers(uow, SteppingClock())
        user_ids = [row[0] for row in await _rows(database_url, "SELECT id FROM users ORDER BY id")]
        big = await create(GROUPS_ADMIN, "Everyone", "All of them")
        await change.batch(GROUPS_ADMIN, big.id, user_ids, [])
        small = await create(GROUPS_ADMIN, "Two")
        await change.batch(GROUPS_ADMIN, small.id, user_ids[3:5], [])
        await create(GROUPS_ADMIN, "Nobody")
    finally:
        await database.dispose()
    assert _export(database_url, tmp_path, "--output", "users.jsonl").returncode == 0
    exported = _cli(database_url, tmp_path, "export-groups", "--output", "groups.jsonl")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in (tmp_path / "groups.jsonl").read_text().splitlines()]
    assert [next(iter(line)) for line in lines] == ["group", "members", "group", "members", "group"]
    groups_before = await _rows(database_url, GROUPS)
    members_before = await _rows(database_url, MEMBERS)

    await _fresh(database_url)
    assert (
        _run(database_url, tmp_path, "users.jsonl", "--keep-ids", "--keep-timestamps").returncode
        == 0
    )
    flags = ("--keep-ids", "--keep-timestamps")
    restored = _cli(database_url, tmp_path, "import-groups", "groups.jsonl", *flags)
    assert restored.returncode == 0, restored.stderr
    assert "3 groups created, 0 there already, 27 members added, 0 unknown users" in restored.stderr
    assert await _rows(database_url, GROUPS) == groups_before
    assert await _rows(database_url, MEMBERS) == members_before

    again = _cli(database_url, tmp_path, "import-groups", "groups.jsonl", *flags)
    assert again.returncode == 0, again.stderr
    assert "0 groups created, 3 there already, 0 members added" in again.stderr
    assert await _rows(database_url, MEMBERS) == members_before

    # A new group takes an id past every restored one, users' and groups' alike.
    database = database_for(database_url)
    try:
        newest = await CreateGroup(SqlAlchemyUnitOfWorkFactory(database), SteppingClock())(
            GROUPS_ADMIN, "Newest"
        )
    finally:
        await database.dispose()
    user_ids_now = [row[0] for row in await _rows(database_url, "SELECT id FROM users")]
    assert newest.id > max([row[0] for row in groups_before] + user_ids_now)


async def test_members_that_are_no_users_are_reported(database_url: str, tmp_path: Path) -> None:
    await _fresh(database_url)
    (tmp_path / "groups.jsonl").write_text(
        json.dumps({"group": {"id": 5, "name": "Ghosts", "description": None}})
        + "\n"
        + json.dumps({"members": {"group_id": 5, "user_ids": [777, 778]}})
        + "\n"
    )
    run = _cli(database_url, tmp_path, "import-groups", "groups.jsonl")
    assert run.returncode == 1
    assert "no user has id 777" in run.stderr
    assert "2 unknown users" in run.stderr
    assert await _rows(database_url, "SELECT name, member_count FROM groups") == [("Ghosts", 0)]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"members": {"group_id": 1, "user_ids": [1]}}\n')
    assert _cli(database_url, tmp_path, "import-groups", str(broken)).returncode == 2
