from __future__ import annotations

import sys
import unicodedata

import pytest

from users_service.domain.errors import InvalidEmail, InvalidName, InvalidValue
from users_service.domain.values import FORBIDDEN_CATEGORIES, Email, Name


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
    assert Email.parse(raw).value == stored


def test_email_key_is_case_insensitive() -> None:
    assert Email.parse("Ada@X.com").key == Email.parse("ada@x.com").key
    assert Email.parse("Ada@X.com") != Email.parse("ada@x.com")


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
        Email.parse(raw)
    assert caught.value.field == "email"
    assert caught.value.loc == ("email",)


def test_email_rejects_non_strings() -> None:
    with pytest.raises(InvalidEmail):
        Email.parse(42)  # type: ignore[arg-type]


def test_email_at_most_254_characters() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 61] * 3) + ".com"  # 64 + 1 + 189 = 254
    assert len(Email.parse(f"{local}@{domain}").value) == 254
    with pytest.raises(InvalidEmail, match="254"):
        Email.parse(f"{local}@c{domain}")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("Ada Lovelace", "Ada Lovelace"), ("  Ada  ", "Ada"), ("x" * 100, "x" * 100), ("李", "李")],
)
def test_name_is_trimmed(raw: str, stored: str) -> None:
    assert Name.parse(raw).value == stored


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "x" * 101, "Ada\x00", "Ada\tLovelace", "Ada\u2028Lovelace", "\x7f", "Ada\ud800"],
)
def test_name_rejects_empty_long_and_control_characters(raw: str) -> None:
    with pytest.raises(InvalidName):
        Name.parse(raw)


def test_invalid_value_can_be_located_under_a_prefix() -> None:
    error = InvalidName("name", "must not be empty")
    located = error.at("users", 3)
    assert isinstance(located, InvalidName)
    assert isinstance(located, InvalidValue)
    assert located.loc == ("users", 3, "name")
    assert located.message == "must not be empty"


def test_parsing_a_value_object_returns_it_unchanged() -> None:
    email, name = Email.parse("Ada@Example.COM"), Name.parse(" Ada ")
    assert Email.parse(email) is email
    assert Name.parse(name) is name


def test_every_character_of_the_forbidden_categories_is_refused_and_no_other() -> None:
    refused = []
    for code in range(sys.maxunicode + 1):
        try:
            Name.parse(f"a{chr(code)}b")
        except InvalidName:
            refused.append(code)
    expected = [
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in FORBIDDEN_CATEGORIES
    ]
    assert refused == expected
    assert {0x00, 0x85, 0x2028, 0xD800} <= set(refused)
