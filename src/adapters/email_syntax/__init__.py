"""The email authority, on email-validator: its syntax rules (no deliverability check,
no DNS, RFC 5321 lengths) and its normal form: NFC, the domain lower-cased.

The library is used as shipped, through `validate_email` only. Its verdicts are pure
functions of the address, so they are memoised (bounded): an address seen again (a
filter, an update that repeats an email, a retried create) costs a dictionary look-up.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email

from users_service.domain.errors import InvalidEmail
from users_service.domain.values import MAX_EMAIL_LENGTH, Email

# No DNS, no deliverability; `strict` keeps RFC 5321's 64-character limit on the local part.
OPTIONS: dict[str, Any] = {"check_deliverability": False, "strict": True}

# Distinct addresses whose verdict is kept (each entry is a few hundred bytes at most).
VERDICTS_KEPT = 8192


@lru_cache(maxsize=VERDICTS_KEPT)
def verdict(raw: str) -> tuple[str | None, str | None]:
    """email-validator's verdict on `raw`: (normal form, None) or (None, its message)."""
    try:
        return validate_email(raw, **OPTIONS).normalized, None
    except EmailNotValidError as exc:
        return None, str(exc)


class EmailValidatorSyntax:
    def parse(self, raw: str | Email) -> Email:
        if isinstance(raw, Email):
            return raw  # accepted already
        if not isinstance(raw, str):
            raise InvalidEmail("email", "must be a string")
        if len(raw) > 4 * MAX_EMAIL_LENGTH:  # refused without reading it all
            raise InvalidEmail("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
        normalized, problem = verdict(raw)
        if normalized is None:
            raise InvalidEmail("email", problem or "is not a valid email address")
        return Email(normalized)
