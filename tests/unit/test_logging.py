"""Log lines: JSON for machines, one readable line for a person."""

from __future__ import annotations

import json
import logging
import os

from users_service.entrypoints.logging_config import ConsoleFormatter, JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "users_service", "levelname": "INFO", "msg": "hi"})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_console_lines_are_one_line_with_extras_and_colour_only_when_asked() -> None:
    record = _record(status=200, path="/users")
    plain = ConsoleFormatter(colour=False).format(record)
    assert "\n" not in plain
    assert "\033[" not in plain
    assert plain.split()[1:4] == ["INFO", "users_service", "hi"]
    assert "status=200" in plain
    assert "path=/users" in plain
    coloured = ConsoleFormatter(colour=True).format(record)
    assert "\033[32m" in coloured  # INFO in green


def test_json_lines_name_the_worker() -> None:
    line = JsonFormatter().format(_record(status=201))
    entry = json.loads(line)
    assert entry["pid"] == os.getpid()
    assert entry["status"] == 201
    assert entry["msg"] == "hi"
