from __future__ import annotations

import sys
import unicodedata

import pytest

from users_service.domain.errors import InvalidName, InvalidValue
from users_service.domain.values import FORBIDDEN_CATEGORIES, Name


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
    name = Name.parse(" Ada ")
    assert Name.parse(name) is name


# The edges of every forbidden range and their neighbours, a few of each other kind of
# character (format, private use, unassigned, combining, wide), and a stride across the
# whole range. Every code point is walked in tests/integration/test_unicode_exhaustive.py.
SAMPLE = sorted(
    {
        *(0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x7E, 0x7F, 0x85, 0x9F, 0xA0, 0xAD),
        *(0x0301, 0x0378, 0x200B, 0x2027, 0x2028, 0x2029, 0x202A, 0x202E, 0x3000, 0x674E),
        *(0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xF8FF, 0xFEFF, 0xFFFD, 0xFFFF),
        *(0x10000, 0x1F600, 0xE0001, 0xF0000, 0x10FFFF),
        *range(0, sys.maxunicode + 1, 4099),
    }
)


def test_a_sample_of_characters_is_refused_exactly_when_its_category_is_forbidden() -> None:
    refused = []
    for code in SAMPLE:
        try:
            Name.parse(f"a{chr(code)}b")
        except InvalidName:
            refused.append(code)
    expected = [code for code in SAMPLE if unicodedata.category(chr(code)) in FORBIDDEN_CATEGORIES]
    assert refused == expected
    assert {0x00, 0x1F, 0x7F, 0x85, 0x9F, 0x2028, 0x2029, 0xD800, 0xDFFF} <= set(refused)
    assert not {0x20, 0x7E, 0xA0, 0xAD, 0x202A, 0xD7FF, 0xE000, 0x10FFFF} & set(refused)
