"""Callers for tests that run use cases by hand."""

from __future__ import annotations

from users_service.application.access import GROUPS_READ, GROUPS_WRITE, READ, WRITE, Principal

ADMIN = Principal("admin", frozenset({READ, WRITE}))

GROUPS_ADMIN = Principal("groups-admin", frozenset({READ, WRITE, GROUPS_READ, GROUPS_WRITE}))
