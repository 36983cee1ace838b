"""The email authority's fast path: email-validator's verdicts and messages, at a fraction
of its cost. On unless `EMAIL_FAST_PATH=false`; installed explicitly by
`EmailValidatorSyntax`, never by importing this module.

Two of email-validator's steps dominate its cost, and neither needs to be paid per
address:

- Splitting. `split_email` walks the address one character at a time, normalising a
  window of text at each step, to find an unquoted `@` outside any display name. For a
  plain address (ASCII, one `@`, no quote, no angle bracket) the answer is simply the
  text either side of the `@`; anything else goes to the library's own splitter.
- The domain. `validate_email_domain_name` derives the IDNA (UTS #46) form character by
  character, again for every address at the same domain. It is a pure function of its
  arguments and a service sees few distinct domains, so its result is memoised
  (bounded; failures raise and are never remembered).

`validate_email` looks both names up in its module at call time, so both are replaced
there, process-wide; every other rule, message and normalisation is the library's.
`tests/unit/test_library_hooks.py` checks that the library still looks them up, and a spy
that the replacements are what it runs; `tests/unit/test_email_syntax.py` that verdicts
and messages are the library's.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Any

# The package re-exports the function under its module's name, hence import_module.
_validation: Any = import_module("email_validator.validate_email")
library_split = _validation.split_email
library_domain_check = _validation.validate_email_domain_name

Split = tuple[str | None, str, str, bool, str]


def plain_split(email: str) -> Split | None:
    """What `split_email` answers for a plain address; None for any other."""
    if email.isascii() and email.count("@") == 1 and '"' not in email and "<" not in email:
        local, _, domain = email.partition("@")
        return None, local, local, False, domain
    return None


def split(email: str) -> Split:
    plain = plain_split(email)
    return plain if plain is not None else library_split(email)


memoised_domain_check = lru_cache(maxsize=4096)(library_domain_check)


def install() -> None:
    """Replace the two steps in email-validator's module (idempotent)."""
    _validation.split_email = split
    _validation.validate_email_domain_name = memoised_domain_check


def uninstall() -> None:
    """email-validator exactly as shipped."""
    _validation.split_email = library_split
    _validation.validate_email_domain_name = library_domain_check


def installed() -> bool:
    return _validation.split_email is split
