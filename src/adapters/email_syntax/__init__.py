"""The email authority, on email-validator: its syntax rules (no deliverability check,
no DNS, RFC 5321 lengths) and its normal form: NFC, the domain lower-cased.

The library is used as shipped, through `validate_email` only. Its verdicts are pure
functions of the address, so they are memoised (bounded).

Most addresses are a plain dot-atom (RFC 5322 §3.2.3) before the `@`: ASCII letters,
digits and `.`, `-`, `_`, `+`. The grammar treats every letter and digit of a dot-atom
alike, so such an address gets the verdict of its *shape*, in which each letter and digit
is replaced by `a`: `Ada.Lovelace42@example.com` is judged as `aaa.aaaaaaaaaa@example.com`.
The domain is kept as given, so a new address at a known domain with a known shape costs a
dictionary look-up instead of a fresh parse of the domain. The normal form of a plain local
part is the local part itself, so the address's normal form is its own local part joined to
the shape's normal domain. The library lower-cases the RFC 2142 mailbox names
(`postmaster`, `abuse`, ...), so those, and every other address, are judged as they are.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from users_service.domain.errors import InvalidEmail
from users_service.domain.values import MAX_EMAIL_LENGTH, Email

# No DNS, no deliverability; `strict` keeps RFC 5321's 64-character limit on the local part.
OPTIONS: dict[str, Any] = {"check_deliverability": False, "strict": True}

# Distinct addresses or shapes whose verdict is kept (each is a few hundred bytes at most).
VERDICTS_KEPT = 8192

_PLAIN_LOCAL_PART = re.compile(r"[A-Za-z0-9._+-]+")
_SHAPE = str.maketrans(dict.fromkeys(string.ascii_letters + string.digits, "a"))


@lru_cache(maxsize=VERDICTS_KEPT)
def verdict(raw: str) -> tuple[str | None, str | None]:
    """email-validator's verdict on `raw`: (normal form, None) or (None, its message)."""
    try:
        return validate_email(raw, **OPTIONS).normalized, None
    except EmailNotValidError as exc:
        return None, str(exc)


def judged(raw: str) -> tuple[str | None, str | None]:
    """The library's verdict on `raw`, from the verdict on its shape when it has one."""
    local, at, domain = raw.partition("@")
    if (
        not at
        or "@" in domain
        or _PLAIN_LOCAL_PART.fullmatch(local) is None
        or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES
    ):
        return verdict(raw)
    shape = local.translate(_SHAPE)
    normalized, problem = verdict(shape + "@" + domain)
    if normalized is None:
        return None, problem
    if not normalized.startswith(shape + "@"):  # not the plain local part it should be
        return verdict(raw)
    return local + normalized[len(shape) :], None


class EmailValidatorSyntax:
    def parse(self, raw: str | Email) -> Email:
        if isinstance(raw, Email):
            return raw  # accepted already
        if not isinstance(raw, str):
            raise InvalidEmail("email", "must be a string")
        if len(raw) > 4 * MAX_EMAIL_LENGTH:  # refused without reading it all
            raise InvalidEmail("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
        normalized, problem = judged(raw)
        if normalized is None:
            raise InvalidEmail("email", problem or "is not a valid email address")
        return Email(normalized)
