"""The relay publishes to a NATS server that requires TLS and verifies its clients, with
a CA of the deployment's own (NATS_TLS_*): through nats-py, the one publishing path."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import nats as support_nats
from tests.support.certificates import Authority, make_authority
from tests.support.engines import require_engine
from tests.support.events import drained, pending
from tests.support.nats import NatsServer, stream_contents
from tests.support.reliability import make_settings, serve
from users_service.entrypoints.settings import Settings

STREAM = "USERS_TLS"


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return make_authority(tmp_path / "pki")


@pytest.fixture
def tls_nats(tmp_path: Path, authority: Authority) -> Iterator[NatsServer]:
    require_engine(support_nats.missing_reason(), "nats-server")
    options = (
        "--tls",
        "--tlscert", str(authority.server.certificate),
        "--tlskey", str(authority.server.key),
        "--tlsverify",
        "--tlscacert", str(authority.certificate),
    )  # fmt: skip
    with support_nats.nats_server(tmp_path / "nats", *options) as server:
        yield server


def _tls_url(server: NatsServer) -> str:
    return f"tls://127.0.0.1:{server.port}"


def _settings(server: NatsServer, authority: Authority, *, client_certificate: bool) -> Settings:
    client = (
        {
            "nats_tls_cert_file": str(authority.client.certificate),
            "nats_tls_key_file": str(authority.client.key),
        }
        if client_certificate
        else {}
    )
    return make_settings(
        "memory://",
        nats_url=_tls_url(server),
        nats_tls_ca_file=str(authority.certificate),
        events_stream=STREAM,
        events_relay="inprocess",
        events_poll_max=0.2,
        **client,
    )


async def test_events_reach_a_tls_server_that_verifies_clients(
    tls_nats: NatsServer, authority: Authority
) -> None:
    async with serve(_settings(tls_nats, authority, client_certificate=True)) as service:
        created = await service.client.post(
            "/users", json={"email": "tls@example.com", "name": "T"}
        )
        assert created.status_code == 201
        await drained(service.container.unit_of_work())

    context = ssl.create_default_context(cafile=str(authority.certificate))
    context.load_cert_chain(str(authority.client.certificate), str(authority.client.key))
    received = await stream_contents(_tls_url(tls_nats), STREAM, tls=context)
    assert [(m.event["type"], m.event["data"]) for m in received] == [
        ("users.v1.user.created", created.json())
    ]


async def test_without_the_client_certificate_nothing_is_published(
    tls_nats: NatsServer, authority: Authority
) -> None:
    """The server refuses the relay, which keeps trying (nats-py reconnects, logging each
    refusal): the event waits in the outbox, and the API is unaffected."""
    async with serve(_settings(tls_nats, authority, client_certificate=False)) as service:
        created = await service.client.post(
            "/users", json={"email": "tls@example.com", "name": "T"}
        )
        assert created.status_code == 201
        await asyncio.sleep(1.0)  # five of the relay's polls
        assert await pending(service.container.unit_of_work()) == 1
        assert (await service.client.get("/users")).status_code == 200
