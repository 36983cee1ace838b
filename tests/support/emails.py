"""The email authority the service uses, for tests that build use cases by hand."""

from __future__ import annotations

from users_service.adapters.email_syntax import EmailValidatorSyntax

EMAILS = EmailValidatorSyntax()
