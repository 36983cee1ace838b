"""Logs on stderr, one line per record, with the request id on every record: JSON objects
in production, readable coloured lines for a person (`serve --dev`, `LOG_FORMAT=console`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

from users_service.entrypoints.request_context import request_id_var

NO_REQUEST = "-"  # request_id outside a request

# uvicorn adds `color_message`, its own coloured copy of the message.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}

LogFormat = Literal["json", "console"]


def _no_trace() -> dict[str, str]:
    return {}


# `trace_id` and `span_id` of the active span, for every log line; nothing until tracing
# is configured (entrypoints/tracing.py), so logs cost nothing more without it.
trace_context: Callable[[], dict[str, str]] = _no_trace


def correlate_traces(context: Callable[[], dict[str, str]] | None) -> None:
    """Log lines carry what `context` returns (None: no trace fields)."""
    global trace_context
    trace_context = context or _no_trace


class _Second:
    """The formatted second of the last timestamp: lines within one second (most of a
    busy server's) only add their milliseconds to it."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""


_last = _Second()


def utc_timestamp(seconds: float) -> str:
    """`2026-12-04T01:30:00.123+00:00`: the `ts` of every JSON line (milliseconds cut,
    never rounded up into the next second, as `isoformat` does)."""
    second = int(seconds)
    last = _last
    if second != last.second:
        last.prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        last.second = second
    return f"{last.prefix}{int((seconds - second) * 1000):03d}+00:00"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
            "pid": record.process,  # which worker, when there are several
        }
        entry.update(trace_context())
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_RESET = "\033[0m"
_DIM = "\033[2m"
_LEVEL_COLOURS = {
    "DEBUG": "\033[36m",
    "INFO": "\033[32m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
}


class ConsoleFormatter(logging.Formatter):
    """`12:04:05.123 INFO  users_service  GET /users 200  status=200 request_id=…`.

    One line per record, extras as key=value; a traceback follows on its own lines.
    """

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self._colour = colour

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self._colour else text

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = self._paint(f"{record.levelname:<7}", _LEVEL_COLOURS.get(record.levelname, ""))
        fields = {**_extras(record), "request_id": request_id_var.get(), **trace_context()}
        tail = " ".join(
            f"{key}={value}" for key, value in fields.items() if value not in (None, NO_REQUEST)
        )
        line = (
            f"{self._paint(time, _DIM)} {level} {self._paint(record.name, _DIM)}  "
            f"{record.getMessage()}"
        )
        if tail:
            line += "  " + self._paint(tail, _DIM)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _wants_colour(stream: TextIO) -> bool:
    # https://no-color.org; FORCE_COLOR for terminals that hide behind a pipe (make, tee).
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def formatter_for(log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    if log_format == "console":
        return ConsoleFormatter(colour=_wants_colour(stream))
    return JsonFormatter()


def configure_logging(level: str = "INFO", log_format: LogFormat = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Requests are logged once, by our middleware; uvicorn's access log would repeat them.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
