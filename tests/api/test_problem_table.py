"""The problem table: every error the domain and the application raise has a row, found
along the error's MRO, so that a new subclass answers as its parent does and an error
class nobody entered stays a logged generic 500."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import pytest
from starlette.requests import Request

import users_service.application
import users_service.domain
from tests.support.app import serve
from tests.support.http import assert_problem
from tests.support.tokens import bearer, token
from users_service.application.errors import ApplicationError, StorageUnavailable
from users_service.domain.errors import DomainError, InvalidEmail, InvalidValue, UserNotFound
from users_service.entrypoints.container import Container
from users_service.entrypoints.http.problems import (
    PROBLEMS,
    SERVICE_UNAVAILABLE,
    error_problem,
    problem_for,
)

BASES: tuple[type[Exception], ...] = (DomainError, ApplicationError)


def _import_every_module(*packages: ModuleType) -> None:
    for package in packages:
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def _subclasses(cls: type[Exception]) -> Iterator[type[Exception]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def concrete_errors() -> list[type[Exception]]:
    """Every concrete error class of ours below the two bases (test classes excluded)."""
    _import_every_module(users_service.domain, users_service.application)
    found = {
        sub
        for base in BASES
        for sub in _subclasses(base)
        if sub.__module__.startswith("users_service.") and not inspect.isabstract(sub)
    }
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _request(path: str = "/users/1") -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    )


def test_the_walk_finds_errors_from_every_module() -> None:
    names = {c.__name__ for c in concrete_errors()}
    # One from each module that defines errors: the walk is not vacuous.
    expected = {
        "InvalidEmail",
        "VersionMismatch",
        "StorageUnavailable",
        "InvalidToken",
        "AuthenticationUnavailable",
        "RequestInFlight",
        "IdempotencyKeyReused",
    }
    assert expected <= names


def test_every_concrete_error_has_a_row_along_its_mro() -> None:
    missing = [
        f"{c.__module__}.{c.__qualname__}" for c in concrete_errors() if problem_for(c) is None
    ]
    assert not missing, f"no row in problems.PROBLEMS for {missing}"


def test_rows_are_for_our_errors_only() -> None:
    for error in PROBLEMS:
        assert issubclass(error, BASES), error
    for base in BASES:
        assert problem_for(base) is None, "a base class must not answer: it is a bug"


def test_a_new_subclass_inherits_its_parents_row() -> None:
    class GoneUser(UserNotFound):
        pass

    class StricterEmail(InvalidEmail):
        pass

    assert problem_for(GoneUser) is PROBLEMS[UserNotFound]
    assert problem_for(StricterEmail) is PROBLEMS[InvalidValue]  # the nearest row wins

    response = error_problem(_request(), GoneUser(7))
    assert response.status_code == 404
    assert b'"code":"user_not_found"' in bytes(response.body)


def test_an_error_without_a_row_is_re_raised() -> None:
    class Unentered(DomainError):
        pass

    class AlsoUnentered(ApplicationError):
        pass

    for error in (Unentered(), AlsoUnentered()):
        with pytest.raises(type(error)) as raised:
            error_problem(_request(), error)
        assert raised.value is error


def test_unavailable_rows_log_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    class PoolExhausted(StorageUnavailable):
        pass

    with caplog.at_level(logging.WARNING, logger="users_service.errors"):
        response = error_problem(_request(), PoolExhausted("The pool is exhausted."))
    assert response.status_code == SERVICE_UNAVAILABLE.status
    assert response.headers["retry-after"] == "2"
    warnings = [r for r in caplog.records if r.name == "users_service.errors"]
    assert [r.getMessage() for r in warnings] == ["unavailable: The pool is exhausted."]


async def test_in_the_app_a_subclass_answers_as_its_parent(container: Container) -> None:
    class GoneUser(UserNotFound):
        pass

    class Gone:
        async def __call__(self, actor: object, user_id: int, *, fresh: bool = False) -> None:
            raise GoneUser(user_id)

    container.get_user.override(Gone())
    async with serve(container, headers=bearer(token())) as service:
        response = await service.client.get("/users/5")
    assert_problem(response, 404, "user_not_found")


async def test_in_the_app_an_error_without_a_row_is_a_logged_500(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    class Unentered(DomainError):
        pass

    class Broken:
        async def __call__(self, actor: object, user_id: int, *, fresh: bool = False) -> None:
            raise Unentered("nobody wrote a row for this")

    container.get_user.override(Broken())
    async with serve(container, headers=bearer(token())) as service:
        response = await service.client.get("/users/1")
    body = assert_problem(response, 500, "internal_error")
    assert "nobody wrote" not in response.text
    logged = [
        r
        for r in caplog.records
        if r.name == "users_service.errors" and getattr(r, "request_id", None) == body["request_id"]
    ]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], Unentered)
