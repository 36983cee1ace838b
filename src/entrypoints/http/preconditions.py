"""Entity tags: If-Match (strong comparison) and If-None-Match (weak comparison).

The headers are read from the request (see `optional_header` for why); routes document
them with the `openapi_extra` objects below.
"""

from __future__ import annotations

from starlette.requests import Request

from users_service.entrypoints.http.header_docs import optional_header

_MAX_VERSION = 2**31 - 1

IF_MATCH_DOC = optional_header("If-Match", 'Write only if the user is at this version, e.g. `"3"`')
IF_NONE_MATCH_DOC = optional_header(
    "If-None-Match", "Answer 304 if the user is still at this version"
)
GROUP_IF_MATCH_DOC = optional_header(
    "If-Match", 'Write only if the group is at this version, e.g. `"3"`'
)
GROUP_IF_NONE_MATCH_DOC = optional_header(
    "If-None-Match", "Answer 304 if the group is still at this version"
)


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _version(tag: str) -> int | None:
    digits = tag[1:-1]
    if 3 <= len(tag) <= 12 and tag[0] == tag[-1] == '"' and digits.isascii() and digits.isdigit():
        value = int(digits)
        return value if value <= _MAX_VERSION else None
    return None


def expected_versions(request: Request) -> list[int] | None:
    """The versions the request's If-Match accepts; None when any version will do.

    Weak tags never match under If-Match, and a header that names no usable tag
    accepts nothing, so the write answers 412.
    """
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return None
    return [v for v in map(_version, _tags(if_match)) if v is not None]


def none_match(request: Request, version: int) -> bool:
    """True when the request's If-None-Match names this version (so the answer is 304)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    for tag in _tags(if_none_match):
        if tag == "*" or _version(tag.removeprefix("W/")) == version:
            return True
    return False
