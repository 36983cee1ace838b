"""The email authority's fast path changes no verdict of email-validator's.

`users_service.adapters.email_syntax.fast_path` memoises email-validator's domain check
and gives its address splitter a fast path for plain addresses. Here every answer, and
every error message, is compared with the library's own functions on a corpus of awkward
addresses and on generated ones; a spy shows the library really runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.emails import EMAILS
from users_service.adapters.email_syntax import OPTIONS, fast_path
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
    fast_path.uninstall()
    try:
        yield
    finally:
        fast_path.install()


def _verdict(address: str) -> str:
    assert fast_path.installed()
    try:
        return "valid: " + EMAILS.parse(address).value
    except InvalidEmail as exc:
        return f"invalid: {exc.message}"


def _library_verdict(address: str) -> str:
    with library_functions():
        try:
            return "valid: " + validate_email(address, **OPTIONS).normalized  # type: ignore[arg-type]
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
    fast = fast_path.plain_split(address)
    if fast is not None:
        assert fast == fast_path.library_split(address)


def test_plain_addresses_take_the_fast_split() -> None:
    assert fast_path.plain_split("Ada.Lovelace@Example.COM") == (
        None,
        "Ada.Lovelace",
        "Ada.Lovelace",
        False,
        "Example.COM",
    )
    for awkward in ['"a"@example.com', "A <a@example.com>", "a@b@c.com", "ä@example.com"]:
        assert fast_path.plain_split(awkward) is None


def test_the_library_runs_the_installed_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy: email-validator, called as the library is called, goes through our split
    and our memoised domain check (not merely has them lying in its module)."""
    assert fast_path.installed()
    splits: list[str] = []
    usual = fast_path.plain_split

    def spy(address: str) -> fast_path.Split | None:
        splits.append(address)
        return usual(address)

    monkeypatch.setattr(fast_path, "plain_split", spy)
    misses = fast_path.memoised_domain_check.cache_info().misses
    validate_email("spy@a-domain-seen-once.example", **OPTIONS)  # type: ignore[arg-type]
    assert splits == ["spy@a-domain-seen-once.example"]
    assert fast_path.memoised_domain_check.cache_info().misses == misses + 1


def test_off_means_the_library_as_shipped() -> None:
    from users_service.adapters.email_syntax import EmailValidatorSyntax

    try:
        EmailValidatorSyntax(fast=False)
        assert not fast_path.installed()
        assert EMAILS.parse("Ada@Example.COM").value == "Ada@example.com"
    finally:
        EmailValidatorSyntax(fast=True)
    assert fast_path.installed()
