"""What observability costs: the same service with its parts switched off and on, loaded
with `GET /users/{id}` in the same rounds as the service itself, each started afresh the
same way just before its run (each holds a pool of its own, and PostgreSQL's connections
are limited), twice a round in A B C D D C B A order:

- `bare`: no metrics (`METRICS=false`), no access log (`LOG_LEVEL=WARNING`);
- `metrics`: metrics on, the access log off (the main server of the bench is set so);
- `defaults`: the production defaults, metrics and one access-log line per request
  (`LOG_LEVEL=INFO`, JSON, to the server's log file);
- `tracing`: the defaults plus tracing, every request sampled (`always_on`), exported over
  OTLP/HTTP to a sink in the bench process that answers 200 and keeps nothing.

The bars, on the server's CPU time per request: metrics cost at most 6% over `bare`,
metrics and the access log together at most 10%. Tracing is a figure, with no bar.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

BARE, METRICS, DEFAULTS, TRACING = "bare", "metrics", "defaults", "tracing"
METRICS_BAR, DEFAULTS_BAR = 0.06, 0.10


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    env: dict[str, str]


def variants(sink_port: int) -> list[Variant]:
    defaults = {"METRICS": "true", "LOG_LEVEL": "INFO", "ACCESS_LOG": "on"}
    return [
        Variant(BARE, {"METRICS": "false", "LOG_LEVEL": "WARNING"}),
        Variant(METRICS, {"METRICS": "true", "LOG_LEVEL": "WARNING"}),
        Variant(DEFAULTS, defaults),
        Variant(
            TRACING,
            {
                **defaults,
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}/v1/traces",
                "OTEL_TRACES_SAMPLER": "always_on",
            },
        ),
    ]


class OtlpSink:
    """Accepts OTLP/HTTP exports and drops them."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.exports = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.exports += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
