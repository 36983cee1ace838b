"""The one email authority (email-validator behind `application.emails.EmailSyntax`):
what it accepts, what it refuses and the form it stores."""

from __future__ import annotations

import pytest

from tests.support.emails import EMAILS
from users_service.domain.errors import InvalidEmail
from users_service.domain.values import Email


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada.Lovelace@EXAMPLE.com", "Ada.Lovelace@example.com"),
        ("o'brien+tag@Mail.Example.org", "o'brien+tag@mail.example.org"),
        ("jörg@bücher.example", "jörg@bücher.example"),
    ],
)
def test_email_normalises_only_the_domain(raw: str, stored: str) -> None:
    assert EMAILS.parse(raw).value == stored


def test_email_key_is_case_insensitive() -> None:
    assert EMAILS.parse("Ada@X.com").key == EMAILS.parse("ada@x.com").key
    assert EMAILS.parse("Ada@X.com") != EMAILS.parse("ada@x.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada@example.123",
        "ada..lovelace@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "ada@-example.com",
        "ada\x00@example.com",
        "ada@example.com\n",
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "\ud800@example.com",
    ],
)
def test_email_rejects_invalid_addresses(raw: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        EMAILS.parse(raw)
    assert caught.value.field == "email"
    assert caught.value.loc == ("email",)


def test_email_rejects_non_strings() -> None:
    with pytest.raises(InvalidEmail):
        EMAILS.parse(42)  # type: ignore[arg-type]


def test_email_at_most_254_characters() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 61] * 3) + ".com"  # 64 + 1 + 189 = 254
    assert len(EMAILS.parse(f"{local}@{domain}").value) == 254
    with pytest.raises(InvalidEmail, match="too long"):
        EMAILS.parse(f"{local}@c{domain}")


def test_an_accepted_email_passes_unchanged() -> None:
    email = EMAILS.parse("Ada@Example.COM")
    assert EMAILS.parse(email) is email


def test_special_use_domains_are_refused() -> None:
    """The rule the domain's own parser missed: `.test` and friends are no addresses."""
    for raw in ("ada@example.test", "ada@host.local", "ada@x.invalid"):
        with pytest.raises(InvalidEmail):
            EMAILS.parse(raw)


def test_a_huge_input_is_refused_without_reading_it_all() -> None:
    with pytest.raises(InvalidEmail, match="254"):
        EMAILS.parse("a" * 100_000 + "@example.com")


def test_stored_emails_are_plain_values() -> None:
    assert Email("ada@example.com").key == "ada@example.com"
