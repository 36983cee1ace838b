"""Entity tags: If-Match (strong comparison) and If-None-Match (weak comparison)."""

from __future__ import annotations

_MAX_VERSION = 2**31 - 1


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _version(tag: str) -> int | None:
    digits = tag[1:-1]
    if 3 <= len(tag) <= 12 and tag[0] == tag[-1] == '"' and digits.isascii() and digits.isdigit():
        value = int(digits)
        return value if value <= _MAX_VERSION else None
    return None


def expected_versions(if_match: str | None) -> list[int] | None:
    """The versions an If-Match accepts; None when any version will do.

    Weak tags never match under If-Match, and a header that names no usable tag
    accepts nothing, so the write answers 412.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    return [v for v in map(_version, _tags(if_match)) if v is not None]


def none_match(if_none_match: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (so the answer is 304)."""
    if if_none_match is None:
        return False
    for tag in _tags(if_none_match):
        if tag == "*" or _version(tag.removeprefix("W/")) == version:
            return True
    return False
