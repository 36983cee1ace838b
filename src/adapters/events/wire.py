"""A lean NATS connection that only publishes to JetStream: the relay's fast path.

nats-py's JetStream publish spends about 40 µs of CPU per event on a 2-core host (a
future, a parsed message object, a queue hop and a JSON decode for each acknowledgement),
and an in-process relay takes that from the requests. This connection writes a wave of
events as one buffer of HPUB frames and reads the acknowledgements straight off the
socket: with the events' encoding, 14.5 µs per event against 72 (`bench/relay.py`). It
speaks only what that needs: INFO, CONNECT (with the URL's user and password, or token),
PING/PONG, one SUB for the acknowledgements, and HPUB, on plain TCP. A server that
requires TLS is left to nats-py (`WireUnsupported`).

nats-py still owns the rest (connecting, finding the server, the stream's management):
this connection goes to the server nats-py is connected to. `EVENTS_FAST_PATH=false`
publishes through nats-py's `publish_async` instead.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import ParseResult

import orjson

NO_ACKNOWLEDGEMENT = "no acknowledgement in time"


class WireUnsupported(Exception):
    """The server wants what this connection does not speak."""


class NatsWire(asyncio.Protocol):
    """One publisher's connection; one wave in flight at a time."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._info: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pong: asyncio.Future[None] = loop.create_future()
        self._inbox = f"_INBOX.{secrets.token_hex(11)}.".encode()
        self._next_token = 0
        # The wave in flight: reply token -> index, for the events still unanswered.
        self._wave: dict[int, int] = {}
        self._results: list[str | None] = []
        self._done: asyncio.Future[None] | None = None
        self._lost: str | None = None
        self.max_payload = 1024 * 1024

    @classmethod
    async def open(cls, server: ParseResult, configured: ParseResult, wait: float) -> NatsWire:
        """Connected to `server` with the credentials of `configured` (the URL as set: a
        server learnt from the cluster comes without them), and subscribed to its
        acknowledgements. Raises `WireUnsupported` for a TLS URL or a server that requires
        TLS or lacks headers, `OSError` when the server cannot be reached, and
        `ConnectionError` when it refuses."""
        if configured.scheme not in ("nats", "") or server.scheme not in ("nats", ""):
            raise WireUnsupported(f"{configured.scheme}:// URLs")
        wire = cls()
        await asyncio.wait_for(
            wire._loop.create_connection(
                lambda: wire, server.hostname or "127.0.0.1", server.port or 4222
            ),
            wait,
        )
        try:
            await asyncio.wait_for(wire._handshake(configured), wait)
        except BaseException:
            wire.close()
            raise
        return wire

    async def _handshake(self, url: ParseResult) -> None:
        info = await self._info
        if info.get("tls_required") or not info.get("headers"):
            raise WireUnsupported("the server requires TLS or does not take headers")
        self.max_payload = int(info.get("max_payload", self.max_payload))
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python",
            "version": "users-service-relay",
            "protocol": 1,
            "headers": True,
            "no_responders": True,
        }
        if url.username and url.password is not None:
            options.update(user=url.username, **{"pass": url.password})
        elif url.username:
            options["auth_token"] = url.username
        self._write(
            b"CONNECT " + orjson.dumps(options) + b"\r\nSUB " + self._inbox + b"* 1\r\nPING\r\n"
        )
        await self._pong  # -ERR (a refused authorisation) fails it

    @property
    def is_open(self) -> bool:
        return self._lost is None and self._transport is not None

    async def publish(
        self, messages: Sequence[tuple[str, bytes, str]], stream: str, wait: float
    ) -> list[str | None]:
        """Publish (subject, payload, message id) triples at once; for each, None once
        JetStream acknowledged it within `wait` seconds, else why not. Raises
        `ConnectionError` when closed."""
        if not self.is_open:
            raise ConnectionError(f"NATS connection lost: {self._lost}")
        if self._done is not None:
            raise RuntimeError("one wave at a time")
        expected = stream.encode()
        results: list[str | None] = [NO_ACKNOWLEDGEMENT] * len(messages)
        wave: dict[int, int] = {}
        frames = []
        token = self._next_token
        for index, (subject, payload, message_id) in enumerate(messages):
            if len(payload) > self.max_payload:
                results[index] = f"{len(payload)} bytes is over the server's max_payload"
                continue
            header = b"NATS/1.0\r\nNats-Msg-Id: %s\r\nNats-Expected-Stream: %s\r\n\r\n" % (
                message_id.encode(),
                expected,
            )
            frames.append(
                b"HPUB %s %s%d %d %d\r\n%s%s\r\n"
                % (
                    subject.encode(),
                    self._inbox,
                    token,
                    len(header),
                    len(header) + len(payload),
                    header,
                    payload,
                )
            )
            wave[token] = index
            token += 1
        self._next_token = token
        if not wave:
            return results
        self._wave, self._results = wave, results
        done = self._done = self._loop.create_future()
        try:
            self._write(b"".join(frames))
            await asyncio.wait_for(asyncio.shield(done), wait)
        except TimeoutError:
            pass  # what was not acknowledged stays NO_ACKNOWLEDGEMENT
        finally:
            self._wave, self._done = {}, None
        return results

    def close(self) -> None:
        for future in (self._info, self._pong):
            future.cancel()  # no-one waits for them any more
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(repr(exc) if exc else "closed")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        position, end = 0, len(buffer)
        while position < end:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            # MSG <subject> <sid> [reply-to] <#bytes>, an acknowledgement; or HMSG <subject>
            # <sid> [reply-to] <#header bytes> <#total bytes>, from JetStream a status
            # alone ("NATS/1.0 503": no stream takes the subject)
            headed = buffer.startswith(b"HMSG ", position)
            if headed or buffer.startswith(b"MSG ", position):
                fields = buffer[position + (5 if headed else 4) : line_end].split()
                start = line_end + 2
                stop = start + int(fields[-1])
                if stop + 2 > end:
                    break
                if headed:
                    status = bytes(buffer[start : start + int(fields[-2])]).split(b"\r\n", 1)[0]
                    self._refused(bytes(fields[0]), status.decode(errors="replace"))
                else:
                    self._acknowledged(bytes(fields[0]), bytes(buffer[start:stop]))
                position = stop + 2
            else:
                self._control(bytes(buffer[position:line_end]))
                position = line_end + 2
        del buffer[:position]

    # the server's words

    def _acknowledged(self, subject: bytes, payload: bytes) -> None:
        index = self._index(subject)
        if index is not None:
            ok = b'"seq"' in payload and b'"error"' not in payload
            self._settle(index, None if ok else payload.decode(errors="replace"))

    def _refused(self, subject: bytes, status: str) -> None:
        index = self._index(subject)
        if index is not None:
            self._settle(index, status)

    def _index(self, subject: bytes) -> int | None:
        """The wave's index of the event a reply answers; None for a reply to a wave
        given up on (too late), or to nothing of ours."""
        inbox = self._inbox
        if not subject.startswith(inbox):
            return None
        return self._wave.pop(int(subject[len(inbox) :]), None)

    def _settle(self, index: int, error: str | None) -> None:
        self._results[index] = error
        if not self._wave and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _control(self, line: bytes) -> None:
        if line == b"PING":
            self._write(b"PONG\r\n")
        elif line == b"PONG":
            if not self._pong.done():
                self._pong.set_result(None)
        elif line.startswith(b"INFO "):
            if not self._info.done():
                self._info.set_result(orjson.loads(line[5:]))
        elif line.startswith(b"-ERR"):
            # The server closes the connection after most errors; do it for all of them,
            # the next round opens a new one.
            self._fail(line.decode(errors="replace"))
            self.close()
        # +OK: not sent with verbose off

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError(f"NATS connection lost: {self._lost}")
        self._transport.write(data)

    def _fail(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
        for future in (self._info, self._pong):
            if not future.done():
                future.set_exception(ConnectionError(f"NATS: {why}"))
        for index in self._wave.values():
            self._results[index] = f"connection lost: {why}"
        self._wave = {}
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
