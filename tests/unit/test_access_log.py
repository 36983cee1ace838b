"""The access log: one JSON line per request written in one write, the same fields as any
JSON log line; `errors` keeps 4xx and 5xx only; `off`, or a level above INFO, none."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from users_service.entrypoints import logging_config
from users_service.entrypoints.access_log import LOGGER, AccessLog


@pytest.fixture
def info() -> Iterator[None]:
    logger = logging.getLogger(LOGGER)
    before = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(before)


def test_one_json_line_per_request(info: None) -> None:
    written: list[bytes] = []
    log = AccessLog("on", "json", written.append)
    assert log.wants(200)
    log("GET", "/users/1", 200, 0.412, "req-1")
    (line,) = written
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    entry = orjson.loads(line)
    assert entry["msg"] == "request"
    assert entry["logger"] == LOGGER
    assert entry["level"] == "INFO"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/users/1", 200)
    assert entry["duration_ms"] == 0.412
    assert entry["request_id"] == "req-1"
    assert entry["ts"].endswith("+00:00")
    assert "trace_id" not in entry


def test_trace_ids_when_tracing(info: None) -> None:
    written: list[bytes] = []
    logging_config.correlate_traces(lambda: {"trace_id": "a" * 32, "span_id": "b" * 16})
    try:
        AccessLog("on", "json", written.append)("GET", "/", 200, 1.0, "r")
    finally:
        logging_config.correlate_traces(None)
    entry = orjson.loads(written[0])
    assert (entry["trace_id"], entry["span_id"]) == ("a" * 32, "b" * 16)


def test_errors_only_and_off(info: None) -> None:
    errors = AccessLog("errors", "json", lambda _line: None)
    assert not errors.wants(200)
    assert not errors.wants(304)
    assert errors.wants(404)
    assert errors.wants(503)
    off = AccessLog("off", "json", lambda _line: None)
    assert not off.wants(500)


def test_nothing_above_info() -> None:
    logger = logging.getLogger(LOGGER)
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        assert not AccessLog("on", "json", lambda _line: None).wants(500)
    finally:
        logger.setLevel(before)


def test_console_goes_through_logging(info: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        AccessLog("on", "console", lambda _line: pytest.fail("written raw"))(
            "POST", "/users", 201, 2.5, "r2"
        )
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == "request"
    assert record.__dict__["status"] == 201


@pytest.mark.parametrize(
    "seconds",
    [0.0, 1700000000.0, 1700000000.0004, 1700000000.9999, 1700000001.5, 1767225599.999],
)
def test_timestamp_as_isoformat_writes_it(seconds: float) -> None:
    # The per-second cache must give what datetime gives, across second boundaries.
    from datetime import UTC, datetime

    expected = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    assert logging_config.utc_timestamp(seconds) == expected
    assert logging_config.utc_timestamp(seconds + 1) != expected  # a new second, a new prefix
