"""Who is calling, and what they may do. The HTTP edge authenticates a token into a
`Principal`; use cases decide, from the principal alone, what it may read or change.

Rules (the contract's "Authentication and authorization"):
- `users:read` reads any user and lists; `users:write` creates, changes and deletes any.
- Self-service: a principal whose subject is a user's id may read and change that user,
  and read that user's groups. Any other user answers "not found", so ids cannot be
  probed.
- `groups:read` reads groups, a user's groups and `expand=groups` (a group's members need
  `users:read` too); `groups:write` creates, changes and deletes groups and memberships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from users_service.application.errors import ApplicationError

READ = "users:read"
WRITE = "users:write"
GROUPS_READ = "groups:read"
GROUPS_WRITE = "groups:write"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]

    @property
    def can_read(self) -> bool:
        return READ in self.scopes

    @property
    def can_write(self) -> bool:
        return WRITE in self.scopes

    def is_user(self, user_id: int) -> bool:
        return self.subject == str(user_id)


TRUSTED = Principal("trusted", frozenset({READ, WRITE, GROUPS_READ, GROUPS_WRITE}))
"""The caller when authentication is switched off."""


class InsufficientScope(ApplicationError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"This operation needs the '{scope}' scope.")
        self.scope = scope


class InvalidToken(ApplicationError):
    """The credentials are missing, malformed, expired, forged or wrongly signed.

    `reason` is a short word for operators' metrics (`missing`, `malformed`,
    `algorithm`, `expired`, `not_yet_valid`, `bad_signature`, `unknown_key`...), never
    the token or anything from it."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class AuthenticationUnavailable(ApplicationError):
    """No verification key could be obtained (the identity provider is unreachable)."""


class TokenVerifier(Protocol):
    """Turns a bearer token into a principal, or raises InvalidToken."""

    async def verify(self, token: str) -> Principal: ...


def require(actor: Principal, scope: str) -> None:
    if scope not in actor.scopes:
        raise InsufficientScope(scope)
