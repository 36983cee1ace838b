"""The PgBouncer variant: the service through Debian's PgBouncer in transaction mode,
started by the bench on the shipped configuration (deploy/kubernetes/pgbouncer.ini), the
same way the tests start theirs (tests/support/pgbouncer.py)."""

from __future__ import annotations

import secrets
import sys
from contextlib import AbstractContextManager

from config import REPO_ROOT, Config

sys.path.insert(0, str(REPO_ROOT))
from tests.support.pgbouncer import SHIPPED, PgBouncer, missing_reason, pgbouncer

NAME = "pgbouncer"
PASSWORD = secrets.token_urlsafe(16)  # SCRAM between the service and PgBouncer


def start(config: Config) -> AbstractContextManager[PgBouncer]:
    reason = missing_reason()
    if reason is not None:
        raise RuntimeError(f"{reason}; BENCH_PGBOUNCER=off skips the PgBouncer variant")
    return pgbouncer(
        config.admin_dsn,
        pool_size=None,  # the shipped default_pool_size
        config_file=SHIPPED,
        password=PASSWORD,
        # Its server connections are then told apart from the service's own in
        # pg_stat_activity (database.connection_group).
        settings={"application_name_add_host": "1"},
    )


def service_url(config: Config, bouncer: PgBouncer) -> str:
    return bouncer.url_for(config.service_database_url, PASSWORD)
