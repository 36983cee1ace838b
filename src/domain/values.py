"""Value objects: a `Name` or a `Description` is valid by construction or not at all; an
`Email` holds an address the email authority (`application.emails`) accepted."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from users_service.domain.errors import InvalidDescription, InvalidName

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

# Characters that never belong in stored text: C0/C1 controls, lone surrogates (they
# cannot be encoded to UTF-8, so a database would choke on them) and line separators.
# These are the Unicode categories Cc, Cs, Zl and Zp, whose members are fixed; one regex
# scans for them at C speed.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _forbidden_character(text: str) -> str | None:
    found = _FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


@dataclass(frozen=True, slots=True)
class Email:
    """An email address the email authority accepted (`application.emails`), in its
    stored form: the domain part lower-cased.

    `key` is the identity used for uniqueness: two emails that differ only in case
    are the same user.
    """

    value: str

    @property
    def key(self) -> str:
        return self.value.lower()

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Name:
    """A display name: trimmed, 1 to 100 characters, no control characters."""

    value: str

    @classmethod
    def parse(cls, raw: str | Name) -> Name:
        if isinstance(raw, Name):
            return raw  # valid by construction
        if not isinstance(raw, str):
            raise InvalidName("name", "must be a string")
        text = unicodedata.normalize("NFC", raw).strip()
        if not text:
            raise InvalidName("name", "must not be empty")
        if len(text) > MAX_NAME_LENGTH:
            raise InvalidName("name", f"must be at most {MAX_NAME_LENGTH} characters")
        if (bad := _forbidden_character(text)) is not None:
            raise InvalidName("name", f"contains the control character {bad}")
        return cls(text)

    def __str__(self) -> str:
        return self.value


MAX_DESCRIPTION_LENGTH = 1000
# A description may run over lines: tabs and line breaks are kept, other controls are not.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Description:
    """A group's description: at most 1,000 characters, NFC, trimmed; tabs and line
    breaks allowed, other control characters not. Empty after trimming means none."""

    value: str

    @classmethod
    def parse(cls, raw: str | Description) -> Description | None:
        if isinstance(raw, Description):
            return raw
        if not isinstance(raw, str):
            raise InvalidDescription("description", "must be a string")
        text = unicodedata.normalize("NFC", raw).strip()
        if len(text) > MAX_DESCRIPTION_LENGTH:
            raise InvalidDescription(
                "description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters"
            )
        if (found := _FORBIDDEN_IN_TEXT.search(text)) is not None:
            raise InvalidDescription(
                "description", f"contains the control character U+{ord(found.group()):04X}"
            )
        return cls(text) if text else None

    def __str__(self) -> str:
        return self.value
