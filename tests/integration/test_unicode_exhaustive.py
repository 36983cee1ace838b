"""Every code point, walked once: too slow for the unit layer (seconds, not
milliseconds), which checks a representative sample (tests/unit/test_values.py)."""

from __future__ import annotations

import sys
import unicodedata

from users_service.domain.errors import InvalidName
from users_service.domain.values import FORBIDDEN_CATEGORIES, Name


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
