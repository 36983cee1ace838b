"""The request id of the request being served, for logs and problem bodies."""

from __future__ import annotations

import itertools
import re
import secrets
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Unique, not secret: a random per-process prefix and a counter are unique and cost no
# system call per request (uuid4 reads the OS random source every time).
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def choose_request_id(offered: str | None) -> str:
    """The client's id when it is short and plain, else a fresh one."""
    if offered and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return f"{_PREFIX}{next(_COUNTER):016x}"
