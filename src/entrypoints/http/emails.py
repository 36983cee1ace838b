"""Email syntax by email-validator, with its domain check memoised.

email-validator derives the IDNA (UTS #46) form of the domain character by character on
every call: about two thirds of its cost, paid again for every address at the same
domain. That check is a pure function of its arguments and a service sees few distinct
domains, so its result is memoised (bounded). The rest of the validation, local part and
lengths included, runs for every address as before.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Any

from email_validator import EmailNotValidError, validate_email

# The package re-exports the function under its module's name, hence import_module.
_validation: Any = import_module("email_validator.validate_email")
# `validate_email` looks this name up in its module at call time. Failures raise, so only
# valid domains are remembered; the cached dict is only ever read by the caller.
_validation.validate_email_domain_name = lru_cache(maxsize=4096)(
    _validation.validate_email_domain_name
)


def normalised_email(value: str) -> str:
    """The address as email-validator normalises it (NFC, domain lower-cased).

    Raises ValueError, with email-validator's explanation, for an invalid address.
    """
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
