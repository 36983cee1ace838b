"""The port for the one authority on email addresses.

Every use case that accepts an email parses it with an `EmailSyntax`, whoever calls it
(the HTTP edge, the CLI, an import tool), so an address is accepted or refused by the
same rules everywhere. `Email` values come only from it, or from storage, which holds
nothing else.
"""

from __future__ import annotations

from typing import Protocol

from users_service.domain.values import Email


class EmailSyntax(Protocol):
    def parse(self, raw: str | Email) -> Email:
        """The address in its stored form; an `Email` passes as it is.

        Raises `InvalidEmail` (field `email`) with the reason it is refused.
        """
        ...
