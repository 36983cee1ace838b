"""The relay's lean NATS connection (`adapters/events/wire.py`) against real servers of
the tests' own: what JetStream acknowledged, refused or never answered, under asyncio and
uvloop, with and without credentials; and its parser on replies cut anywhere."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nats as nats_py
import pytest
import uvloop
from nats.js.api import StreamConfig

from tests.conftest import require_engine
from tests.support import nats as support_nats
from tests.support.nats import NatsServer, stream_contents
from users_service.adapters.events.wire import NO_ACKNOWLEDGEMENT, NatsWire, WireUnsupported

STREAM = "WIRE_TEST"


async def _make_stream(url: str, duplicate_window: float = 120) -> None:
    client = await nats_py.connect(url, connect_timeout=2)
    try:
        await client.jetstream().add_stream(
            StreamConfig(name=STREAM, subjects=["wire.>"], duplicate_window=duplicate_window)
        )
    finally:
        await client.close()


async def _open(url: str) -> NatsWire:
    parsed = urlparse(url)
    return await NatsWire.open(parsed, parsed, wait=5)


def _messages(ids: range, prefix: str = "wire.created") -> list[tuple[str, bytes, str]]:
    return [(f"{prefix}.{i}", b'{"n": %d}' % i, f"id-{i}") for i in ids]


async def test_a_wave_is_stored_in_order_with_its_ids_and_repeats_are_dropped(
    nats: NatsServer,
) -> None:
    await _make_stream(nats.url)
    wire = await _open(nats.url)
    try:
        assert await wire.publish(_messages(range(300)), STREAM, wait=5) == [None] * 300
        # The same ids again: acknowledged (as duplicates), not stored twice.
        assert await wire.publish(_messages(range(290, 310)), STREAM, wait=5) == [None] * 20
    finally:
        wire.close()
    stored = await stream_contents(nats.url, STREAM)
    assert [m.msg_id for m in stored] == [f"id-{i}" for i in range(310)]
    assert [m.event["n"] for m in stored] == list(range(310))
    assert stored[7].subject == "wire.created.7"


async def test_what_no_stream_takes_or_another_stream_takes_is_refused(
    nats: NatsServer,
) -> None:
    await _make_stream(nats.url)
    wire = await _open(nats.url)
    try:
        results = await wire.publish(
            [*_messages(range(2), "nowhere"), *_messages(range(2, 3))], STREAM, wait=5
        )
        assert "503" in str(results[0])  # no responders
        assert "503" in str(results[1])
        assert results[2] is None
        wrong = await wire.publish(_messages(range(3, 4)), "OTHER_STREAM", wait=5)
        assert "error" in str(wrong[0])
        assert wire.is_open  # refusals leave the connection usable
        assert await wire.publish(_messages(range(4, 5)), STREAM, wait=5) == [None]
    finally:
        wire.close()
    assert [m.msg_id for m in await stream_contents(nats.url, STREAM)] == ["id-2", "id-4"]


async def test_a_killed_server_fails_the_wave_and_the_connection(nats: NatsServer) -> None:
    await _make_stream(nats.url)
    wire = await _open(nats.url)
    try:
        assert await wire.publish(_messages(range(1)), STREAM, wait=5) == [None]
        nats.kill()
        for _ in range(50):  # the loss is seen when the socket says so
            if not wire.is_open:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(ConnectionError):
            await wire.publish(_messages(range(1, 2)), STREAM, wait=5)
    finally:
        wire.close()
        nats.start()
    with pytest.raises(ConnectionRefusedError):
        await _open("nats://127.0.0.1:1")  # nothing listens there


async def test_an_unanswered_wave_times_out_as_unacknowledged(nats: NatsServer) -> None:
    await _make_stream(nats.url)
    wire = await _open(nats.url)
    try:
        nats.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            results = await wire.publish(_messages(range(3)), STREAM, wait=0.5)
        finally:
            nats.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        assert results == [NO_ACKNOWLEDGEMENT] * 3
    finally:
        wire.close()


def test_it_works_under_uvloop_as_the_server_runs_it(nats: NatsServer) -> None:
    async def scenario() -> list[str | None]:
        await _make_stream(nats.url)
        wire = await _open(nats.url)
        try:
            return await wire.publish(_messages(range(5)), STREAM, wait=5)
        finally:
            wire.close()

    assert _run_on(uvloop.new_event_loop, scenario) == [None] * 5


def _run_on(
    factory: Callable[[], asyncio.AbstractEventLoop],
    scenario: Callable[[], Coroutine[Any, Any, list[str | None]]],
) -> list[str | None]:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(scenario())


async def test_credentials_come_from_the_configured_url(tmp_path: Path) -> None:
    require_engine(support_nats.missing_reason(), "nats-server")
    with support_nats.nats_server(
        tmp_path / "nats", "--user", "relay", "--pass", "s3cret"
    ) as server:
        good = urlparse(f"nats://relay:s3cret@127.0.0.1:{server.port}")
        learnt = urlparse(f"nats://127.0.0.1:{server.port}")  # as a cluster announces it
        await _make_stream(good.geturl())
        wire = await NatsWire.open(learnt, good, wait=5)
        try:
            assert await wire.publish(_messages(range(2)), STREAM, wait=5) == [None, None]
        finally:
            wire.close()
        bad = urlparse(f"nats://relay:wrong@127.0.0.1:{server.port}")
        with pytest.raises(ConnectionError, match="Authorization"):
            await NatsWire.open(learnt, bad, wait=5)


async def test_tls_urls_are_left_to_nats_py() -> None:
    url = urlparse("tls://127.0.0.1:4222")
    with pytest.raises(WireUnsupported):
        await NatsWire.open(url, url, wait=1)


class _Transport:
    """Takes what the connection writes (the parser test needs no server)."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _msg(subject: bytes, payload: bytes) -> bytes:
    return b"MSG %s 1 %d\r\n%s\r\n" % (subject, len(payload), payload)


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 100_000])
async def test_replies_cut_anywhere_are_read_whole(chunk: int) -> None:
    wire = NatsWire()
    transport = _Transport()
    wire.connection_made(transport)  # type: ignore[arg-type]
    wire.data_received(b'INFO {"headers":true,"max_payload":1048576}\r\n')
    handshake = asyncio.ensure_future(wire._handshake(urlparse("nats://127.0.0.1")))
    await asyncio.sleep(0)
    wire.data_received(b"PONG\r\n")
    await handshake
    inbox = bytes(transport.written).split(b"SUB ", 1)[1].split(b"*", 1)[0]
    wave = asyncio.ensure_future(wire.publish(_messages(range(4)), STREAM, wait=5))
    await asyncio.sleep(0)
    status = b"NATS/1.0 503\r\n\r\n"
    replies = (
        b"PING\r\n"
        + _msg(inbox + b"0", b'{"stream":"WIRE_TEST","seq":1}')
        + b"HMSG %s1 1 %d %d\r\n%s\r\n" % (inbox, len(status), len(status), status)
        + _msg(inbox + b"2", b'{"error":{"code":503,"description":"no stream"}}')
        + _msg(inbox + b"3", b'{"stream":"WIRE_TEST","seq":2,"duplicate":true}')
        + _msg(inbox + b"99", b'{"stream":"WIRE_TEST","seq":3}')  # a late reply: ignored
    )
    for start in range(0, len(replies), chunk):
        wire.data_received(replies[start : start + chunk])
    results = await asyncio.wait_for(wave, 1)  # every reply was read: no waiting
    assert results[0] is None
    assert results[3] is None
    assert results[1] == "NATS/1.0 503"
    assert "no stream" in str(results[2])
    assert transport.written.endswith(b"PONG\r\n")  # the server's PING answered
