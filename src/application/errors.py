"""Application errors: failures of the service around the domain.

ApplicationError
└── StorageUnavailable   the database cannot be reached or timed out (retry later)
"""

from __future__ import annotations


class ApplicationError(Exception):
    """Base of the errors that use cases and their ports raise beyond the domain's."""


class StorageUnavailable(ApplicationError):
    """Storage did not answer in time, or refused connections. Safe to retry.

    `cause`, for operators' metrics: `pool_timeout`, `statement_timeout`,
    `unreachable`, `read_only`, `pooler`, `overloaded`, `schema` or `other`."""

    def __init__(self, message: str = "The database is unavailable.", cause: str = "other") -> None:
        super().__init__(message)
        self.cause = cause


class ReplicaUnavailable(StorageUnavailable):
    """A read replica failed a unit that allowed one (`replica=True`): the same read may
    be asked of the primary."""


class StorageNotReady(StorageUnavailable):
    """Storage answers, but not with the schema this release needs (never migrated, or
    changed under the running service). Its message says what to run; a request meeting
    it is answered as storage being unavailable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "schema")
