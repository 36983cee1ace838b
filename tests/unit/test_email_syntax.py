"""The edge's email check is email-validator's, made cheaper without changing a verdict.

`users_service.entrypoints.http.emails` memoises email-validator's domain check and gives its
address splitter a fast path for plain addresses. Here every answer, and every error message, is
compared with the library's own functions on a corpus of awkward addresses and on
generated ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from users_service.entrypoints.http import emails

CORPUS = [
    "ada@example.com",
    "Ada.Lovelace@Example.COM",
    "POSTMASTER@example.com",
    "a+tag@sub.example.co.uk",
    "@example.com",
    "ada@",
    "ada",
    "a@b@example.com",
    "ada..lovelace@example.com",
    ".ada@example.com",
    "ada.@example.com",
    "ada@-example.com",
    "ada@example",
    "ada@localhost",
    "ada@example.test",
    "ada@123.456",
    "ada@[127.0.0.1]",
    '"ada lovelace"@example.com',
    '"a@b"@example.com',
    "Ada Lovelace <ada@example.com>",
    "<ada@example.com>",
    "ada\\@example.com",
    "ada @example.com",
    "ada@exa mple.com",
    "ada\t@example.com",
    "ada\x00@example.com",
    "ada@example.com\n",
    "ädä@example.com",
    "ada@exämple.com",
    "ada@xn--exmple-cua.com",
    "a\u0301da@example.com",
    "ada\uff20example.com",  # a full-width at-sign
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com",
]

_ALPHABET = st.sampled_from(
    [*"aAzZ09.-_+@\"<>\\ \t()[]:;,!#$%&'*/=?^`{|}~", "é", "\u0301", "\uff20", "\x00"]
)


@contextmanager
def library_functions() -> Iterator[None]:
    """email-validator exactly as shipped, for the duration of the block."""
    module = emails._validation
    patched = module.split_email, module.validate_email_domain_name
    module.split_email = emails._library_split
    module.validate_email_domain_name = emails._library_domain_check
    try:
        yield
    finally:
        module.split_email, module.validate_email_domain_name = patched


def _verdict(address: str) -> str:
    try:
        return "valid: " + emails.normalised_email(address)
    except ValueError as exc:
        return f"invalid: {exc}"


def _library_verdict(address: str) -> str:
    with library_functions():
        try:
            return "valid: " + validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            return f"invalid: {exc}"


@pytest.mark.parametrize("address", CORPUS)
def test_same_verdict_and_message_as_the_library(address: str) -> None:
    assert _verdict(address) == _library_verdict(address)
    assert _verdict(address) == _library_verdict(address)  # again, from the memo


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40) | st.emails())
def test_same_verdict_on_generated_addresses(address: str) -> None:
    assert _verdict(address) == _library_verdict(address)


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40) | st.emails())
def test_fast_split_agrees_with_the_library_whenever_it_answers(address: str) -> None:
    fast = emails._plain_split(address)
    if fast is not None:
        assert fast == emails._library_split(address)


def test_plain_addresses_take_the_fast_split() -> None:
    assert emails._plain_split("Ada.Lovelace@Example.COM") == (
        None,
        "Ada.Lovelace",
        "Ada.Lovelace",
        False,
        "Example.COM",
    )
    for awkward in ['"a"@example.com', "A <a@example.com>", "a@b@c.com", "ä@example.com"]:
        assert emails._plain_split(awkward) is None
