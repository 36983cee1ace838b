"""Reliability tests: the app in process (httpx.ASGITransport) on a chosen database,
with its lifespan running, plus a TCP proxy to break the link to PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support import databases
from tests.support import nats as support_nats
from tests.support.engines import require_engine
from tests.support.nats import NatsServer
from tests.support.reliability import FIGURES
from tests.support.tcp_proxy import TcpProxy


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(FIGURES.values()):
        return
    terminalreporter.section("reliability figures")
    for section, store in FIGURES.items():
        if store:
            terminalreporter.write_line(f"{section}:")
            for key, value in sorted(store.items()):
                shown = sorted(value) if isinstance(value, set) else value
                terminalreporter.write_line(f"  {key}: {shown}")


@pytest.fixture
async def sqlite_file_url(tmp_path: Path) -> str:
    """A migrated SQLite file of this test's own."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await databases.migrate(url)
    return url


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
def proxied_url(postgres_url: str, proxy: TcpProxy) -> str:
    """The test database, reached through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server with JetStream of the test's own, which it may kill and restart."""
    require_engine(support_nats.missing_reason(), "nats-server")
    with support_nats.nats_server(tmp_path / "nats") as server:
        yield server
