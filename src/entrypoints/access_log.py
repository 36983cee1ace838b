"""The access log: one line per request (`ACCESS_LOG=on`), only 4xx and 5xx (`errors`),
or none (`off`); never below `LOG_LEVEL=INFO`.

In JSON (production) each line is built by orjson straight from the request's fields and
written to stderr in one `write(2)`: no `LogRecord`, no formatter, no handler lock. The
fields are those of a JSON log line (`ts`, `level`, `logger`, `msg`, `request_id`,
`pid`, and `trace_id`/`span_id` when a trace is active), so log pipelines parse both
alike. A line is far below PIPE_BUF, so lines from several workers never interleave. In
console format (`serve --dev`) the line goes through `logging`, to be read by a person.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Literal

import orjson

from users_service.entrypoints import logging_config
from users_service.entrypoints.logging_config import LogFormat

AccessLogMode = Literal["on", "off", "errors"]
LOGGER = "users_service.access"
_logger = logging.getLogger(LOGGER)


def _stderr(line: bytes) -> None:
    os.write(2, line)


class AccessLog:
    def __init__(
        self,
        mode: AccessLogMode,
        log_format: LogFormat,
        write: Callable[[bytes], None] = _stderr,
    ) -> None:
        enabled = mode != "off" and _logger.isEnabledFor(logging.INFO)
        self.enabled = enabled
        self._errors_only = mode == "errors"
        self._json = log_format == "json"
        self._write = write
        self._pid = os.getpid()

    def wants(self, status: int) -> bool:
        return self.enabled and (status >= 400 or not self._errors_only)

    def __call__(
        self, method: str, path: str, status: int, duration_ms: float, request_id: str
    ) -> None:
        if not self._json:
            _logger.info(
                "request",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                },
            )
            return
        # One dict literal, built once: this runs on every request.
        entry = {
            "ts": logging_config.utc_timestamp(time.time()),
            "level": "INFO",
            "logger": LOGGER,
            "msg": "request",
            "request_id": request_id,
            "pid": self._pid,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
        }
        trace = logging_config.trace_context()
        if trace:
            entry.update(trace)
        self._write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
