"""Value objects: an `Email` and a `Name` are valid by construction or not at all."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from users_service.domain.errors import InvalidEmail, InvalidName

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
MAX_NAME_LENGTH = 100

# Characters that never belong in stored text: C0/C1 controls, lone surrogates (they
# cannot be encoded to UTF-8, so a database would choke on them) and line separators.
# These are the Unicode categories Cc, Cs, Zl and Zp, whose members are fixed; one regex
# scans for them at C speed.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

# RFC 5322 dot-atom text, widened to any non-ASCII character as RFC 6531 (SMTPUTF8) allows.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010FFFF]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _forbidden_character(text: str) -> str | None:
    found = _FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


@dataclass(frozen=True, slots=True)
class Email:
    """An email address with its domain part normalised to lower case.

    `key` is the identity used for uniqueness: two emails that differ only in case
    are the same user.
    """

    value: str

    @classmethod
    def parse(cls, raw: str | Email) -> Email:
        if isinstance(raw, Email):
            return raw  # valid by construction
        if not isinstance(raw, str):
            raise InvalidEmail("email", "must be a string")
        text = unicodedata.normalize("NFC", raw)
        if (bad := _forbidden_character(text)) is not None:
            raise InvalidEmail("email", f"contains the control character {bad}")
        if len(text) > MAX_EMAIL_LENGTH:
            raise InvalidEmail("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
        local, at, domain = text.rpartition("@")
        if not at or not local:
            raise InvalidEmail("email", "must have the form local-part@domain")
        if len(local) > MAX_LOCAL_PART_LENGTH:
            raise InvalidEmail(
                "email", f"local part must be at most {MAX_LOCAL_PART_LENGTH} characters"
            )
        if not _LOCAL_PART.fullmatch(local):
            raise InvalidEmail("email", "local part has characters an address cannot use")
        return cls(f"{local}@{_normalise_domain(domain)}")

    @property
    def key(self) -> str:
        return self.value.lower()

    def __str__(self) -> str:
        return self.value


@lru_cache(maxsize=4096)  # a pure function, and a service sees few distinct domains
def _normalise_domain(domain: str) -> str:
    lowered = domain.lower()
    try:
        ascii_form = lowered.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidEmail("email", "domain is not a valid domain name") from exc
    labels = ascii_form.split(".")
    if len(labels) < 2 or len(ascii_form) > 253:
        raise InvalidEmail("email", "domain must be a fully qualified domain name")
    if not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise InvalidEmail("email", "domain is not a valid domain name")
    if labels[-1].isdigit():
        raise InvalidEmail("email", "domain must not end in a number")
    return lowered


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
