"""A PgBouncer of the tests' own (Debian's package), in transaction mode on a free port,
in front of the PostgreSQL server the tests use. It runs as `postgres` when the tests run
as root (PgBouncer refuses root), from a folder of its own, and is stopped afterwards."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.environment import clean_environment
from tests.support.server_process import free_port
from tests.support.timing import bound

BINARY = "/usr/sbin/pgbouncer"


def missing_reason() -> str | None:
    if not Path(BINARY).exists():
        return f"{BINARY} is not installed (Debian package pgbouncer)"
    return None


@dataclass(frozen=True)
class PgBouncer:
    port: int
    folder: Path
    pool_size: int

    def url_for(self, direct_url: str) -> str:
        """`direct_url` (a database on the PostgreSQL server), through this PgBouncer."""
        url = make_url(direct_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


_CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
server_reset_query =
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
ignore_startup_parameters = {ignored}
"""


@contextmanager
def pgbouncer(
    server_url: str, *, pool_size: int = 5, ignore_startup_parameters: str = ""
) -> Iterator[PgBouncer]:
    """`ignore_startup_parameters`: what PgBouncer accepts and silently drops."""
    server = make_url(server_url)
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o777)
    port = free_port()
    user = server.username or "postgres"
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        _CONFIG.format(
            host=server.host or "127.0.0.1",
            port=server.port or 5432,
            listen=port,
            folder=folder,
            pool_size=pool_size,
            ignored=ignore_startup_parameters,
        )
    )
    command = [BINARY, str(folder / "pgbouncer.ini")]
    identity = {}
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        for path in folder.iterdir():
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
        identity = {"user": postgres.pw_uid, "group": postgres.pw_gid, "extra_groups": []}
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=clean_environment(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        **identity,  # type: ignore[arg-type]
    )
    bouncer = PgBouncer(port, folder, pool_size)
    try:
        deadline = time.monotonic() + bound(10)
        while time.monotonic() < deadline and process.poll() is None:
            if f"listening on 127.0.0.1:{port}" in bouncer.log():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"PgBouncer did not start:\n{bouncer.log()}")
        yield bouncer
    finally:
        process.send_signal(signal.SIGINT)  # PgBouncer's immediate shutdown
        try:
            process.wait(timeout=bound(10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
