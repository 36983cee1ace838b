"""A PostgreSQL 15 primary and a streaming standby of the tests' own: initdb and
pg_basebackup from Debian's binaries, on free ports, in a temporary folder, as the
`postgres` user when the tests run as root. Stopped and removed afterwards; the machine's
own PostgreSQL is never touched."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from tests.support import databases
from tests.support.environment import clean_environment
from tests.support.server_process import free_port
from tests.support.timing import bound

BIN = Path("/usr/lib/postgresql/15/bin")


def missing_reason() -> str | None:
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not (BIN / tool).exists():
            return f"{BIN / tool} is not installed (Debian package postgresql-15)"
    return None


def _identity() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    postgres = pwd.getpwnam("postgres")
    return {"user": postgres.pw_uid, "group": postgres.pw_gid, "extra_groups": []}


@dataclass
class Node:
    name: str
    data: Path
    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.folder / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Cluster:
    primary: Node
    standby: Node
    folder: Path

    def run(self, *command: str | Path, timeout: float = 60) -> None:
        _run(self.folder, [str(part) for part in command], timeout)

    def multi_host_url(self, database: str, **query: str) -> str:
        hosts = "&".join(f"host=127.0.0.1:{n.port}" for n in (self.primary, self.standby))
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"postgresql+asyncpg://postgres@/{database}?{hosts}{extra}"

    def stop_abruptly(self, node: Node) -> None:
        self.run(BIN / "pg_ctl", "-D", node.data, "stop", "-m", "immediate", "-w")

    def promote(self, node: Node) -> None:
        self.run(BIN / "pg_ctl", "-D", node.data, "promote", "-w")


def _run(folder: Path, command: Sequence[str], timeout: float) -> None:
    result = subprocess.run(
        command,
        cwd=folder,
        env=clean_environment(folder),
        capture_output=True,
        text=True,
        timeout=bound(timeout),
        check=False,
        **_identity(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout}\n{result.stderr}")


_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{folder}'
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
full_page_writes = off
max_connections = 60
"""


@contextmanager
def primary_and_standby(*, synchronous: bool = True) -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="pg-replication-"))
    folder.chmod(0o777)
    identity = _identity()
    if identity:
        os.chown(folder, identity["user"], identity["group"])
    primary = Node("primary", folder / "primary", free_port(), folder)
    standby = Node("standby", folder / "standby", free_port(), folder)
    cluster = Cluster(primary, standby, folder)
    started: list[Node] = []
    try:
        cluster.run(
            BIN / "initdb",
            "-D",
            primary.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        settings = _SETTINGS.format(port=primary.port, folder=folder)
        if synchronous:
            # remote_apply: a commit returns once the standby has replayed it, so what the
            # primary acknowledged can be read on the standby at once.
            settings += "synchronous_standby_names = 'standby'\nsynchronous_commit = remote_apply\n"
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        with (primary.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        cluster.run(BIN / "pg_ctl", "-D", primary.data, "-l", folder / "primary.log", "start", "-w")
        started.append(primary)
        cluster.run(
            BIN / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            standby.data,
            "-R",
            "-X",
            "stream",
        )
        with (standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"port = {standby.port}\n"
                f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                "application_name=standby'\n"
            )
        cluster.run(BIN / "pg_ctl", "-D", standby.data, "-l", folder / "standby.log", "start", "-w")
        started.append(standby)
        yield cluster
    finally:
        for node in reversed(started):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster.stop_abruptly(node)  # (a test may have stopped it already)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def migrated_cluster(database: str, *, synchronous: bool) -> AsyncIterator[Cluster]:
    """A primary and standby whose primary holds `database`, migrated."""
    with primary_and_standby(synchronous=synchronous) as cluster:
        admin = await asyncpg.connect(databases.dsn(cluster.primary.url("postgres")))
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        await databases.migrate(cluster.primary.url(database))
        yield cluster
