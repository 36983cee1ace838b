"""A PgBouncer of the tests' own (Debian's package), in transaction mode on a free port,
in front of the PostgreSQL server the tests use. It runs as `postgres` when the tests run
as root (PgBouncer refuses root), from a folder of its own, and is stopped afterwards."""

from __future__ import annotations

import configparser
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
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

    def url_for(self, direct_url: str, password: str | None = None) -> str:
        """`direct_url` (a database on the PostgreSQL server), through this PgBouncer."""
        url = make_url(direct_url).set(host="127.0.0.1", port=self.port)
        if password is not None:
            url = url.set(password=password)
        return url.render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


# The tests' own settings, on top of the shipped file's or of PgBouncer's defaults.
_TEST_SETTINGS = {
    "pool_mode": "transaction",
    "auth_type": "trust",
    "max_client_conn": "500",
    "server_reset_query": "",
}
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "pgbouncer.ini"


def _config(
    base: Path | None, server_host: str, server_port: int, listen: int, folder: Path
) -> configparser.ConfigParser:
    config = configparser.ConfigParser(
        interpolation=None, comment_prefixes=(";", "#"), inline_comment_prefixes=None
    )
    config.optionxform = str  # type: ignore[assignment,method-assign]
    if base is not None:
        config.read(base)
    else:
        config.read_dict({"pgbouncer": _TEST_SETTINGS})
    # What is site-specific: the server behind it (every database name, on the tests'
    # server), where to listen, and where its files are.
    config["databases"] = {"*": f"host={server_host} port={server_port}"}
    config["pgbouncer"].update(
        {
            "listen_addr": "127.0.0.1",
            "listen_port": str(listen),
            "unix_socket_dir": "",
            "auth_file": str(folder / "userlist.txt"),
            "logfile": str(folder / "pgbouncer.log"),
            "pidfile": str(folder / "pgbouncer.pid"),
        }
    )
    return config


@contextmanager
def pgbouncer(
    server_url: str,
    *,
    pool_size: int | None = 5,
    ignore_startup_parameters: str = "",
    config_file: Path | None = None,
    password: str = "",
    settings: Mapping[str, str] | None = None,
) -> Iterator[PgBouncer]:
    """`ignore_startup_parameters`: what PgBouncer accepts and silently drops.
    `config_file`: start from a shipped configuration instead of the tests' own (only
    what is site-specific changes); `pool_size` None keeps its pool size. `settings`:
    more of the [pgbouncer] section, set last."""
    server = make_url(server_url)
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o777)
    port = free_port()
    user = server.username or "postgres"
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    config = _config(config_file, server.host or "127.0.0.1", server.port or 5432, port, folder)
    if pool_size is not None:
        config["pgbouncer"]["default_pool_size"] = str(pool_size)
    if ignore_startup_parameters or config_file is None:
        config["pgbouncer"]["ignore_startup_parameters"] = ignore_startup_parameters
    config["pgbouncer"].update(settings or {})
    with (folder / "pgbouncer.ini").open("w") as ini:
        config.write(ini)
    effective_pool = int(config["pgbouncer"].get("default_pool_size", "20"))
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
    bouncer = PgBouncer(port, folder, effective_pool)
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
