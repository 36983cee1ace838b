"""`users-service import`, run as a real process on a file the test writes: counts, the
rejects file, exit statuses, dry runs, resuming after a kill, and the progress lines a
non-terminal gets."""

from __future__ import annotations

import csv
import gzip
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.databases import empty_tables
from tests.support.environment import clean_environment

VALID = [(f"user{i}@example.com", f"User {i}") for i in range(25)]
INVALID = [
    ("not-an-email", "No At", "email"),
    ("two@@example.com", "Two Ats", "email"),
    ("ok1@example.com", "", "name"),
    ("ok2@example.com", "x" * 101, "name"),
    ("ok3@example.com", "bad\u0000nul", "name"),
    ("", "No Email", "email"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def _fresh(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await empty_tables(engine)
    finally:
        await engine.dispose()


def _run(
    database_url: str, folder: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_environment(folder, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "users_service.entrypoints.cli", "import", *args],
        cwd=folder,
        env=env,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _emails(database_url: str) -> list[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT email FROM users ORDER BY id"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


def _csv_file(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name"])
        writer.writerows(rows)


async def test_valid_invalid_repeated_and_stored_rows(database_url: str, tmp_path: Path) -> None:
    await _fresh(database_url)
    _csv_file(tmp_path / "seed.csv", [VALID[0]])
    assert _run(database_url, tmp_path, "seed.csv", "--quiet").returncode == 0
    rows: list[tuple[str, str]] = []
    for i, valid in enumerate(VALID):
        rows.append(valid)
        if i < len(INVALID):
            rows.append(INVALID[i][:2])
    rows.append(("USER3@Example.com", "Repeat of line 8"))  # in the file already
    _csv_file(tmp_path / "users.csv", rows)

    done = _run(
        database_url, tmp_path, "users.csv", "--rejects", "rejects.csv", "--chunk-size", "7"
    )

    assert done.returncode == 1, done.stderr  # some rows were rejected
    assert "read 32, imported 24, skipped 2, rejected 6" in done.stderr
    assert sorted(await _emails(database_url)) == sorted(email for email, _ in VALID)
    with (tmp_path / "rejects.csv").open(newline="", encoding="utf-8") as file:
        rejected = list(csv.DictReader(file))
    assert [r["email"] for r in rejected] == [email for email, _, _ in INVALID]
    assert [r["loc"] for r in rejected] == [loc for _, _, loc in INVALID]
    assert {r["code"] for r in rejected} == {"validation_failed"}
    assert all(r["msg"] for r in rejected)
    lines = [int(r["line"]) for r in rejected]
    assert lines == [3, 5, 7, 9, 11, 13]  # header is line 1; invalid rows follow each valid one


async def test_jsonl_gz_and_stdin(database_url: str, tmp_path: Path) -> None:
    await _fresh(database_url)
    lines = [json.dumps({"email": e, "name": n}) for e, n in VALID[:5]]
    lines += ["{not json", json.dumps(["a", "list"]), json.dumps({"email": "x@example.com"})]
    with gzip.open(tmp_path / "users.jsonl.gz", "wt", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    done = _run(database_url, tmp_path, "users.jsonl.gz", "--rejects", "rejects.jsonl")
    assert done.returncode == 1, done.stderr
    rejected = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["code"]) for r in rejected] == [(6, "validation_failed")] * 1 + [
        (7, "validation_failed"),
        (8, "validation_failed"),
    ]
    assert rejected[2]["input"] == {"email": "x@example.com"}
    assert rejected[2]["errors"] == [{"loc": ["name"], "msg": "Field required"}]

    piped = _run(
        database_url,
        tmp_path,
        "-",
        "--format",
        "jsonl",
        stdin=(json.dumps({"email": "piped@example.com", "name": "P"}) + "\n").encode(),
    )
    assert piped.returncode == 0, piped.stderr
    assert "piped@example.com" in await _emails(database_url)


async def test_dry_run_writes_nothing_and_fail_stops_with_3(
    database_url: str, tmp_path: Path
) -> None:
    await _fresh(database_url)
    _csv_file(tmp_path / "users.csv", VALID[:10])
    dry = _run(database_url, tmp_path, "users.csv", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: read 10, imported 10" in dry.stderr
    assert await _emails(database_url) == []

    _csv_file(tmp_path / "some.csv", VALID[3:5])
    assert _run(database_url, tmp_path, "some.csv", "--quiet").returncode == 0
    stopped = _run(database_url, tmp_path, "users.csv", "--on-conflict", "fail")
    assert stopped.returncode == 3
    assert "user3@example.com" in stopped.stderr
    assert sorted(await _emails(database_url)) == ["user3@example.com", "user4@example.com"]


def test_usage_and_fatal_errors_exit_2(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    assert _run(url, tmp_path, "missing.csv").returncode == 2
    (tmp_path / "users.txt").write_text("email,name\n")
    assert _run(url, tmp_path, "users.txt").returncode == 2  # no format known
    (tmp_path / "users.csv").write_text("mail,full_name\na@example.com,A\n")
    bad_header = _run(url, tmp_path, "users.csv")
    assert bad_header.returncode == 2
    assert "'email'" in bad_header.stderr


async def test_other_column_names(database_url: str, tmp_path: Path) -> None:
    await _fresh(database_url)
    (tmp_path / "hr.csv").write_text("id,mail,full_name\n1,hr@example.com,H R\n")
    done = _run(
        database_url, tmp_path, "hr.csv", "--email-column", "mail", "--name-column", "full_name"
    )
    assert done.returncode == 0, done.stderr
    assert await _emails(database_url) == ["hr@example.com"]


def _big_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("email,name\n")
        for i in range(rows):
            file.write(f"bulk{i}@example.com,Bulk {i}\n")


async def test_a_run_killed_midway_resumes_without_duplicates(
    database_url: str, tmp_path: Path
) -> None:
    await _fresh(database_url)
    rows = 60_000
    _big_file(tmp_path / "big.csv", rows)
    env = clean_environment(tmp_path, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "users_service.entrypoints.cli", "import", "big.csv",
         "--chunk-size", "500", "--progress-interval", "0"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # until a few chunks are in
        found = re.match(r"read ([\d,]+),", line)
        if found and int(found.group(1).replace(",", "")) >= 5_000:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    partial = len(await _emails(database_url))
    assert 0 < partial < rows

    resumed = _run(database_url, tmp_path, "big.csv", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    emails = await _emails(database_url)
    assert len(emails) == rows
    assert len(set(emails)) == rows


async def test_ctrl_c_ends_the_chunk_then_exits_130(database_url: str, tmp_path: Path) -> None:
    await _fresh(database_url)
    _big_file(tmp_path / "big.csv", 60_000)
    env = clean_environment(tmp_path, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "users_service.entrypoints.cli", "import", "big.csv",
         "--chunk-size", "500", "--progress-interval", "0"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("read "):
            break
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 130
    summary = [line for line in rest.splitlines() if line.startswith("interrupted: ")]
    assert len(summary) == 1, rest
    found = re.search(r"imported ([\d,]+), skipped", summary[0])
    assert found is not None
    imported = int(found.group(1).replace(",", ""))
    assert imported % 500 == 0  # whole chunks only
    assert len(await _emails(database_url)) == imported


def test_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate = subprocess.run(
        [sys.executable, "-m", "users_service.entrypoints.cli", "migrate"],
        cwd=tmp_path,
        env=clean_environment(tmp_path, DATABASE_URL=url),
        capture_output=True,
        timeout=60,
    )
    assert migrate.returncode == 0
    _big_file(tmp_path / "big.csv", 3_000)
    started = time.monotonic()
    done = _run(url, tmp_path, "big.csv", "--chunk-size", "1000", "--progress-interval", "0")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[:3] == [
        line for line in lines[:3] if line.startswith("read ") and "rows/s" in line
    ]
    assert [line.split(", imported")[0] for line in lines[:3]] == [
        "read 1,000",
        "read 2,000",
        "read 3,000",
    ]
    assert lines[-1].startswith("done: read 3,000, imported 3,000, skipped 0, rejected 0")
    assert "\x1b[" not in done.stderr  # no terminal control codes in a pipe
    assert time.monotonic() - started < 120
    quiet = _run(url, tmp_path, "big.csv", "--quiet")
    assert (quiet.returncode, quiet.stderr) == (0, "")


def _export(database_url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment(folder, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "users_service.entrypoints.cli", "export", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_an_export_imported_into_an_empty_database_gives_the_same_users(
    database_url: str, tmp_path: Path, fmt: str
) -> None:
    await _fresh(database_url)
    _csv_file(tmp_path / "users.csv", VALID)
    assert _run(database_url, tmp_path, "users.csv", "--quiet").returncode == 0
    exported = _export(database_url, tmp_path, "--format", fmt, "--output", f"all.{fmt}")
    assert exported.returncode == 0, exported.stderr
    assert "done: exported 25" in exported.stderr
    before = await _users(database_url)

    await _fresh(database_url)
    restored = _run(database_url, tmp_path, f"all.{fmt}", "--keep-ids", "--keep-timestamps")
    assert restored.returncode == 0, restored.stderr
    assert await _users(database_url) == before
    # The id sequence moved past the restored ids: a new user gets a new id.
    _csv_file(tmp_path / "one.csv", [("new@example.com", "New")])
    assert _run(database_url, tmp_path, "one.csv", "--quiet").returncode == 0
    users = await _users(database_url)
    assert users[-1][0] > before[-1][0]

    again = _export(database_url, tmp_path, "--email", "USER3@example.com", "--quiet")
    assert [json.loads(line)["email"] for line in again.stdout.splitlines()] == [
        "user3@example.com"
    ]
    ids = _export(database_url, tmp_path, "--id", str(before[0][0]), "--id", str(before[2][0]))
    assert [json.loads(line)["id"] for line in ids.stdout.splitlines()] == [
        before[0][0],
        before[2][0],
    ]


async def _users(database_url: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, email, name, created_at, updated_at FROM users ORDER BY id")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def test_a_broken_csv_row_is_rejected_and_the_run_goes_on(
    database_url: str, tmp_path: Path
) -> None:
    await _fresh(database_url)
    oversized = "x" * 200_000  # past the csv module's field limit: not a CSV row
    (tmp_path / "users.csv").write_text(
        f"email,name\na@example.com,A\nb@example.com,{oversized}\nc@example.com,C\n"
    )
    done = _run(database_url, tmp_path, "users.csv", "--rejects", "rejects.csv")
    assert done.returncode == 1, done.stderr
    assert "read 3, imported 2, skipped 0, rejected 1" in done.stderr
    with (tmp_path / "rejects.csv").open(newline="", encoding="utf-8") as file:
        [rejected] = list(csv.DictReader(file))
    assert (rejected["line"], rejected["loc"]) == ("3", "row")
    assert sorted(await _emails(database_url)) == ["a@example.com", "c@example.com"]


async def test_rejects_keep_every_input_column_and_the_first_line_of_a_record(
    database_url: str, tmp_path: Path
) -> None:
    """A record whose quoted field spans lines is rejected under the line it starts on,
    and the rejects file repeats every column of the input, as read."""
    await _fresh(database_url)
    with (tmp_path / "hr.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["staff_no", "mail", "full_name", "department"])
        writer.writerow(["1", "one@example.com", "One", "Sales"])
        writer.writerow(["2", "not-an-email", "Two\nlines\nlong", "R&D"])  # lines 3 to 5
        writer.writerow(["3", "three@example.com", "", "Ops"])  # line 6: empty name
    done = _run(
        database_url,
        tmp_path,
        "hr.csv",
        "--email-column",
        "mail",
        "--name-column",
        "full_name",
        "--rejects",
        "rejects.csv",
    )
    assert done.returncode == 1, done.stderr
    with (tmp_path / "rejects.csv").open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        header = next(reader)
        rejected = [dict(zip(header, row, strict=True)) for row in reader]
    assert header == ["line", "staff_no", "mail", "full_name", "department", "code", "loc", "msg"]
    assert [(r["line"], r["staff_no"], r["department"], r["loc"]) for r in rejected] == [
        ("3", "2", "R&D", "email; name"),  # a name has no line breaks either
        ("6", "3", "Ops", "name"),
    ]
    assert rejected[0]["full_name"] == "Two\nlines\nlong"
    assert await _emails(database_url) == ["one@example.com"]


def test_an_unreachable_database_is_a_fatal_error(tmp_path: Path) -> None:
    _csv_file(tmp_path / "users.csv", VALID[:3])
    closed = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    done = _run(closed, tmp_path, "users.csv")
    assert done.returncode == 2
    assert "the database is unavailable" in done.stderr
    assert "Traceback" not in done.stderr
