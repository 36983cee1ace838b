"""Publishing to NATS JetStream with nats-py: each event on
`users.v1.user.<kind>.<user id>`, `Nats-Msg-Id` set to the event id (JetStream drops a
repeat within the stream's duplicate window), acknowledged before it counts.

Order per user: one user's events are published one after another, each awaiting its
acknowledgement before the next is sent, and a user's chain stops at its first failure
(the rest stay in the outbox for the next round). Different users' events go out
together, in waves (see `publish`).

Everything goes through nats-py's public API: it connects (TLS, NKEYs and credentials
files included, `NatsOptions`), follows the server, manages the stream and publishes
with `publish_async`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from users_service.adapters.events import cloudevents
from users_service.application.events import ChangeEvent

logger = logging.getLogger("users_service.events")
NO_ACKNOWLEDGEMENT = "no acknowledgement in time"


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """How to reach the broker beyond its URL (`user:password@` or a token may be in the
    URL itself): TLS with a CA of one's own and a client certificate, an NKEY seed, or a
    credentials file (a JWT and its NKEY, as `nsc` writes them)."""

    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    nkeys_seed_file: str | None = None
    credentials_file: str | None = None

    def connect_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        if self.tls_ca_file or self.tls_cert_file:
            context = ssl.create_default_context(cafile=self.tls_ca_file)
            if self.tls_cert_file:
                context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
            arguments["tls"] = context
        if self.nkeys_seed_file:
            arguments["nkeys_seed"] = self.nkeys_seed_file
        if self.credentials_file:
            arguments["user_credentials"] = self.credentials_file
        return arguments


class StreamOfAnotherDeployment(RuntimeError):
    """EVENTS_STREAM names a stream made for other subjects (another deployment's prefix):
    the relay publishes nothing rather than widen it."""


class JetStreamPublisher:
    def __init__(
        self,
        url: str,
        stream: str,
        *,
        source: str,
        redact: bool,
        max_age: float,
        duplicate_window: float,
        timeout: float,
        options: NatsOptions | None = None,
        names: cloudevents.EventNames | None = None,
    ) -> None:
        self._names = names or cloudevents.EventNames()
        self._url = url
        self._stream = stream
        self._source = source
        self._redact = redact
        self._max_age = max_age
        self._duplicate_window = duplicate_window
        self._timeout = timeout
        self._client: Any = None
        self._js: Any = None
        self._stream_ready = False
        self._options = options or NatsOptions()

    async def connect(self) -> None:
        """Connected, and the stream there; raises when the broker cannot be reached."""
        await self._connected()

    async def _connected(self) -> Any:
        if self._client is None or self._client.is_closed:
            self._client = await self._connect()
            self._js = self._client.jetstream(timeout=self._timeout)
            self._stream_ready = False
        if not self._client.is_connected:
            raise ConnectionError(f"NATS at {self._url} is not connected")
        if not self._stream_ready:
            await self._ensure_stream()
            self._stream_ready = True
        return self._js

    async def _connect(self) -> Any:
        """A connection that reconnects for ever once made. The first one is bounded by
        the publish timeout: nats-py would retry it for ever, and a relay that cannot
        reach its broker (away, or refusing its TLS or credentials) must still back off,
        log and stop when asked."""
        from nats.aio.client import Client

        client = Client()
        try:
            await asyncio.wait_for(
                client.connect(
                    self._url,
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=_log_error,
                    disconnected_cb=_log_disconnected,
                    reconnected_cb=_log_reconnected,
                    **self._options.connect_arguments(),
                ),
                self._timeout,
            )
        except TimeoutError:
            await client.close()
            raise ConnectionError(
                f"NATS at {self._url} accepted no connection within {self._timeout} s"
            ) from None
        except BaseException:  # stopped meanwhile: no half-open client left reconnecting
            await client.close()
            raise
        return client

    async def _ensure_stream(self) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        subjects = self._names.stream_subjects
        try:
            info = await self._js.stream_info(self._stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self._stream,
                    subjects=subjects,
                    max_age=self._max_age,
                    duplicate_window=self._duplicate_window,
                    storage=StorageType.FILE,
                )
            )
            logger.info("created JetStream stream", extra={"stream": self._stream})
            return
        # A stream made by an earlier release carries the users' subjects only: it gains
        # the groups' in place, its messages kept.
        present = list(info.config.subjects or [])
        if subjects[0] not in present:
            raise StreamOfAnotherDeployment(
                f"the stream {self._stream} carries {', '.join(present)}, not this "
                f"deployment's {subjects[0]}: give it its own EVENTS_STREAM"
            )
        missing = [subject for subject in subjects if subject not in present]
        if missing:
            info.config.subjects = present + missing
            await self._js.update_stream(info.config)
            logger.info(
                "added subjects to JetStream stream",
                extra={"stream": self._stream, "subjects": ",".join(missing)},
            )

    async def publish(self, events: Sequence[ChangeEvent]) -> list[int]:
        """Publish `events` (in position order); the positions JetStream acknowledged.

        In waves: each wave sends the next event of every user still in the round, all
        at once (`_send`), then awaits their acknowledgements; a user whose event failed
        leaves the round. So one user's events go out one after the other, each
        acknowledged before the next is sent, and a round costs as many round trips as its
        busiest user has events."""
        await self._connected()
        chains: defaultdict[int, list[ChangeEvent]] = defaultdict(list)
        for event in events:
            chains[event.subject_id].append(event)
        acknowledged: list[int] = []
        failures: list[str] = []
        active = list(chains.values())
        depth = 0
        while active:
            wave = [chain[depth] for chain in active]
            errors = await self._send(wave)
            next_wave = []
            for chain, event, error in zip(active, wave, errors, strict=True):
                if error is not None:
                    failures.append(error)  # that user waits for the next round
                    continue
                acknowledged.append(event.position)
                if depth + 1 < len(chain):
                    next_wave.append(chain)
            active = next_wave
            depth += 1
        if failures:
            logger.warning("publish failed", extra={"events": len(failures), "error": failures[0]})
        return sorted(acknowledged)

    async def _send(self, wave: Sequence[ChangeEvent]) -> list[str | None]:
        """Publish one event per user at once; for each, None once acknowledged, else why
        not."""
        messages = [
            (
                self._names.nats_subject(event),
                self._names.encode(event, self._source, redact=self._redact),
                event.event_id,
            )
            for event in wave
        ]
        futures = [
            await self._js.publish_async(
                subject,
                payload,
                stream=self._stream,
                headers={"Nats-Msg-Id": message_id},
                # A wave larger than nats-py's window of unacknowledged publishes waits
                # for room, within the same bound as the acknowledgements.
                wait_stall=self._timeout,
            )
            for subject, payload, message_id in messages
        ]
        _, late = await asyncio.wait(futures, timeout=self._timeout)
        for future in late:
            future.cancel()
        return [
            NO_ACKNOWLEDGEMENT
            if future.cancelled()
            else (None if future.exception() is None else repr(future.exception()))
            for future in futures
        ]

    async def close(self) -> None:
        if self._client is not None and not self._client.is_closed:
            await self._client.drain()


_last_error: list[str] = []


async def _log_error(exc: Exception) -> None:
    """nats-py's errors, each logged when it differs from the one before (a broker that
    stays away would otherwise log every reconnection attempt)."""
    if _last_error != [repr(exc)]:
        _last_error[:] = [repr(exc)]
        logger.warning("NATS error", extra={"error": repr(exc)})


async def _log_disconnected() -> None:
    logger.warning("NATS disconnected")


async def _log_reconnected() -> None:
    _last_error.clear()
    logger.info("NATS reconnected")
