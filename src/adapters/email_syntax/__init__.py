"""The email authority, on email-validator: its syntax rules (no deliverability check,
no DNS, RFC 5321 lengths) and its normal form: NFC, the domain lower-cased."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from users_service.adapters.email_syntax import fast_path
from users_service.domain.errors import InvalidEmail
from users_service.domain.values import MAX_EMAIL_LENGTH, Email

# No DNS, no deliverability; `strict` keeps RFC 5321's 64-character limit on the local part.
OPTIONS: dict[str, Any] = {"check_deliverability": False, "strict": True}


class EmailValidatorSyntax:
    """`fast=True` installs the fast path (see `fast_path.py`): same verdicts, less CPU."""

    def __init__(self, *, fast: bool = True) -> None:
        # Process-wide (it patches the library's module): the last authority built decides.
        if fast:
            fast_path.install()
        else:
            fast_path.uninstall()

    def parse(self, raw: str | Email) -> Email:
        if isinstance(raw, Email):
            return raw  # accepted already
        if not isinstance(raw, str):
            raise InvalidEmail("email", "must be a string")
        if len(raw) > 4 * MAX_EMAIL_LENGTH:  # refused without reading it all
            raise InvalidEmail("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
        try:
            return Email(validate_email(raw, **OPTIONS).normalized)
        except EmailNotValidError as exc:
            raise InvalidEmail("email", str(exc)) from None
