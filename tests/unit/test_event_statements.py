"""Statements with their events are built from fresh copies of the plain ones: a plain
statement that has already run (its exported columns memoised, as compiling it does)
must not leave the derived one without its columns."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from users_service.adapters.sqlalchemy import statements


def test_derived_statements_survive_their_bases_running_first() -> None:
    dialect = postgresql.asyncpg.dialect()
    shape = {"email": True, "name": True, "guarded": False}
    for base in (
        statements.insert_users(statements.POSTGRESQL),
        statements.update_user(statements.POSTGRESQL, **shape),
        statements.delete_user(statements.POSTGRESQL, guarded=False),
    ):
        list(base.exported_columns)  # what running it does to the cached object
        base.compile(dialect=dialect)
    derived = [
        statements.insert_users_with_events(),
        statements.update_user_with_event(**shape),
        statements.delete_user_with_event(guarded=False),
    ]
    for statement in derived:
        sql = str(statement.compile(dialect=dialect))
        assert "INSERT INTO outbox" in sql
    assert "old_email" in str(derived[1].compile(dialect=dialect))
    sqlite = statements.delete_user("sqlite", guarded=False)
    list(sqlite.exported_columns)
    returning = statements.delete_user_returning_version("sqlite", guarded=False)
    assert list(returning.exported_columns.keys()) == ["version"]
