"""The email authority gives email-validator's verdicts and messages, memoised.

Every answer, and every error message, is compared with the library's own
`validate_email` on a corpus of awkward addresses and on generated ones, first from the
library and then again from the memo, whether the address is judged by its shape or as it
is.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.emails import EMAILS
from users_service.adapters.email_syntax import OPTIONS, VERDICTS_KEPT, judged, verdict
from users_service.domain.errors import InvalidEmail

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
    "Info@Example.com",
    "SUPPORT@example.com",
    "infos@example.com",
    "ada-lovelace_1+x@EXAMPLE.com",
    "a.b.c@xn--exmple-cua.com",
    "a.b@ex_ample.com",
    "-@example.com",
    "+@example.com",
    "a..@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com",
]

_ALPHABET = st.sampled_from(
    [*"aAzZ09.-_+@\"<>\\ \t()[]:;,!#$%&'*/=?^`{|}~", "é", "\u0301", "\uff20", "\x00"]
)


def _verdict(address: str) -> str:
    try:
        return "valid: " + EMAILS.parse(address).value
    except InvalidEmail as exc:
        return f"invalid: {exc.message}"


def _library_verdict(address: str) -> str:
    try:
        return "valid: " + validate_email(address, **OPTIONS).normalized  # type: ignore[arg-type]
    except EmailNotValidError as exc:
        return f"invalid: {exc}"


@pytest.mark.parametrize("address", CORPUS)
def test_same_verdict_and_message_as_the_library(address: str) -> None:
    verdict.cache_clear()
    assert _verdict(address) == _library_verdict(address)
    hits = verdict.cache_info().hits
    assert _verdict(address) == _library_verdict(address)  # again, from the memo
    assert verdict.cache_info().hits == hits + 1


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40) | st.emails())
def test_same_verdict_on_generated_addresses(address: str) -> None:
    assert _verdict(address) == _library_verdict(address)


_PLAIN = st.text(st.sampled_from([*"aZ09.-_+", *"postmaster", *"INFO"]), min_size=0, max_size=70)
_DOMAINS = st.sampled_from(
    ["example.com", "EXAMPLE.com", "exämple.com", "example", "-x.com", "a" * 64 + ".com", ""]
)


@settings(max_examples=600, deadline=None)
@given(_PLAIN, _DOMAINS)
def test_same_verdict_for_plain_local_parts(local: str, domain: str) -> None:
    """The addresses that are judged by their shape, over every kind of domain."""
    address = f"{local}@{domain}"
    assert _verdict(address) == _library_verdict(address)


def test_addresses_of_one_shape_share_a_verdict() -> None:
    verdict.cache_clear()
    assert judged("Ada.Lovelace@Example.com") == ("Ada.Lovelace@example.com", None)
    assert judged("bob.smith123@Example.com") == ("bob.smith123@example.com", None)
    assert verdict.cache_info().hits == 1
    assert judged("Postmaster@example.com") == ("postmaster@example.com", None)  # as it is


def test_the_memo_is_bounded() -> None:
    assert verdict.cache_info().maxsize == VERDICTS_KEPT
    verdict.cache_clear()
    for i in range(VERDICTS_KEPT + 10):
        EMAILS.parse(f"user@example{i}.com")
    assert verdict.cache_info().currsize == VERDICTS_KEPT


def test_the_library_is_not_patched() -> None:
    """email-validator's module keeps its own functions: the authority calls
    `validate_email`, it replaces nothing in the library."""
    import importlib

    module = importlib.import_module("email_validator.validate_email")
    syntax = importlib.import_module("email_validator.syntax")
    assert module.split_email is syntax.split_email
    assert module.validate_email_domain_name is syntax.validate_email_domain_name
