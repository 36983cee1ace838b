"""Callers for tests that run use cases by hand."""

from __future__ import annotations

from users_service.application.access import READ, WRITE, Principal

ADMIN = Principal("admin", frozenset({READ, WRITE}))
