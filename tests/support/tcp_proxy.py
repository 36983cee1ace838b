"""A TCP proxy for fault injection: put it between the service and PostgreSQL, then
cut and restore the link without touching the shared database server.

    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()        # listens on 127.0.0.1:<free port>, see proxy.port
    proxy.cut()                # resets every open connection and every new one
    proxy.restore()            # forwards again, on the same port
    await proxy.close()

Two failure shapes:

- "reset" (the default): every proxied connection is closed with a TCP reset, and every
  new one is accepted and reset at once. The client sees ECONNRESET / EOF, as when the
  database restarts or a firewall or load balancer drops the link.
- "blackhole": sockets stay open but no byte goes either way, as in a silent network
  partition. New connections are accepted and never answered. `restore()` lets the held
  bytes through again, as TCP does when a partition heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import Literal

CutMode = Literal["reset", "blackhole"]

_CHUNK = 64 * 1024


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: the peer learns at once that the link is gone."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)

    def close(self) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.close()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.mode: CutMode | None = None
        self.accepted = 0
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None

    @property
    def is_cut(self) -> bool:
        return self.mode is not None

    @property
    def open_links(self) -> int:
        return len(self._links)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self, mode: CutMode = "reset") -> None:
        """Let nothing through from now on: open links are reset ("reset") or starved
        ("blackhole"); new ones are reset or never answered."""
        self.mode = mode
        self._flowing.clear()
        if mode == "reset":
            links, self._links = self._links, set()
            for link in links:
                link.reset()

    def restore(self) -> None:
        self.mode = None
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        links, self._links = self._links, set()
        for link in links:
            link.reset()
        tasks, self._tasks = self._tasks, set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(client=writer)
        if self.mode == "reset":
            link.reset()
            return
        self._links.add(link)
        await self._flowing.wait()  # a blackholed connection waits here, unanswered
        if link not in self._links:  # reset while it waited
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self._links.discard(link)
            link.reset()
            return
        link.upstream = up_writer
        if link not in self._links:  # reset while it connected
            link.reset()
            return
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]
        for task in link.tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # a blackhole holds the bytes, forwards nothing
                if link not in self._links:
                    return
                writer.write(data)
                await writer.drain()
        # One side hung up (or failed): hang up the other side too.
        if link in self._links:
            self._links.discard(link)
            link.close()
