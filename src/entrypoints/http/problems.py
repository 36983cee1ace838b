"""RFC 9457 problem details: the one table that maps errors to HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from users_service.application.access import (
    AuthenticationUnavailable,
    InsufficientScope,
    InvalidToken,
)
from users_service.application.errors import ApplicationError, StorageUnavailable
from users_service.application.idempotency import IdempotencyKeyReused, RequestInFlight
from users_service.domain.errors import (
    DomainError,
    EmailAlreadyRegistered,
    GroupNameTaken,
    GroupNotFound,
    InvalidValue,
    InvalidValues,
    UserNotFound,
    VersionMismatch,
)
from users_service.entrypoints.request_context import request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://users.example/problems/"
RETRY_AFTER_SECONDS = "2"

logger = logging.getLogger("users_service.errors")


@dataclass(frozen=True, slots=True)
class ProblemType:
    status: int
    code: str
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.code.replace("_", "-")


BAD_REQUEST = ProblemType(400, "bad_request", "Bad request")
INVALID_CURSOR = ProblemType(400, "invalid_cursor", "Invalid cursor")
INVALID_TOKEN = ProblemType(401, "invalid_token", "Unauthorized")
INSUFFICIENT_SCOPE = ProblemType(403, "insufficient_scope", "Forbidden")
NOT_FOUND = ProblemType(404, "not_found", "Not found")
USER_NOT_FOUND = ProblemType(404, "user_not_found", "User not found")
GROUP_NOT_FOUND = ProblemType(404, "group_not_found", "Group not found")
METHOD_NOT_ALLOWED = ProblemType(405, "method_not_allowed", "Method not allowed")
EMAIL_TAKEN = ProblemType(409, "email_already_registered", "Email already registered")
GROUP_NAME_TAKEN = ProblemType(409, "group_name_taken", "Group name taken")
REQUEST_IN_FLIGHT = ProblemType(409, "request_in_flight", "Request in flight")
PRECONDITION_FAILED = ProblemType(412, "precondition_failed", "Precondition failed")
PAYLOAD_TOO_LARGE = ProblemType(413, "payload_too_large", "Payload too large")
UNSUPPORTED_MEDIA_TYPE = ProblemType(415, "unsupported_media_type", "Unsupported media type")
VALIDATION_FAILED = ProblemType(422, "validation_failed", "Validation failed")
IDEMPOTENCY_KEY_REUSED = ProblemType(422, "idempotency_key_reused", "Idempotency key reused")
INTERNAL_ERROR = ProblemType(500, "internal_error", "Internal server error")
SERVICE_UNAVAILABLE = ProblemType(503, "service_unavailable", "Service unavailable")

_BY_STATUS = {
    p.status: p
    for p in (
        BAD_REQUEST,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        PRECONDITION_FAILED,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        VALIDATION_FAILED,
        INTERNAL_ERROR,
        SERVICE_UNAVAILABLE,
    )
}


class ProblemError(Exception):
    """Raised by the HTTP edge itself (bad cursor, wrong media type...)."""

    def __init__(self, problem: ProblemType, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    instance: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
        "instance": instance,
        "code": problem.code,
        "request_id": request_id_var.get(),
        **extra,
    }
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _error_item(loc: Iterable[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": [p if isinstance(p, int) else str(p) for p in loc], "msg": msg, "type": type_}


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's errors without `input` and `ctx`: never echo what the client sent."""
    return [_error_item(e.get("loc", ()), e.get("msg", ""), e.get("type", "")) for e in errors]


# ---- the table: error class -> how it answers -------------------------------------------

E = TypeVar("E", bound=Exception)


def _no_headers(_exc: Exception) -> Mapping[str, str]:
    return {}


def _no_members(_exc: Exception, _request: Request) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class ErrorProblem(Generic[E]):
    """How instances of `error` (and of its subclasses without a row of their own) answer:
    the problem type, the `detail`, the response headers and the extra body members, each
    built from the exception. `unavailable` rows are logged as a warning (a dependency is
    down: the operator wants to know, the client retries)."""

    error: type[E]
    problem: ProblemType
    detail: Callable[[E], str] = str
    headers: Callable[[E], Mapping[str, str]] = _no_headers
    members: Callable[[E, Request], Mapping[str, Any]] = _no_members
    unavailable: bool = False
    # What the operators' metrics count of it (`PrometheusMetrics`), if anything.
    counted: Callable[[Any, E], None] | None = None

    def answer(self, request: Request, exc: E, *, count: bool = True) -> Response:
        if self.unavailable:
            # The exception itself (its cause chained): the handler runs outside the `except`
            # that caught it, where `exc_info=True` would find nothing.
            logger.warning("unavailable: %s", exc, exc_info=exc if exc.__cause__ else None)
        if count and self.counted is not None:
            app = request.scope.get("app")
            metrics = getattr(app.state, "metrics", None) if app is not None else None
            if metrics is not None:
                self.counted(metrics, exc)
        return problem_response(
            self.problem,
            self.detail(exc),
            instance=request.url.path,
            headers=self.headers(exc),
            **self.members(exc, request),
        )


def _input_of(request: Request) -> str:
    """Where a use case's refused value came from: a GET or DELETE has no body, its
    values are in the query (path parameters are checked by the route itself)."""
    return "query" if request.method in ("GET", "HEAD", "DELETE") else "body"


def _not_valid(_exc: Exception) -> str:
    return "The request is not valid."


def _retry_shortly(exc: Exception) -> str:
    return f"{exc} Retry shortly."


def _retry_after(_exc: Exception) -> Mapping[str, str]:
    return {"Retry-After": RETRY_AFTER_SECONDS}


def _insufficient_scope(exc: InsufficientScope) -> Mapping[str, str]:
    return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{exc.scope}"'}


# Not annotated: each row is then checked against its own error class (an annotation such
# as tuple[ErrorProblem[Any], ...] would make every lambda's argument Any).
_ROWS = (
    # domain
    ErrorProblem(
        InvalidValue,
        VALIDATION_FAILED,
        detail=_not_valid,
        members=lambda e, request: {
            "errors": [_error_item((_input_of(request), *e.loc), e.message, "value_error")],
        },
    ),
    ErrorProblem(
        InvalidValues,
        VALIDATION_FAILED,
        detail=_not_valid,
        members=lambda e, request: {
            "errors": [
                _error_item((_input_of(request), *p.loc), p.message, "value_error")
                for p in e.problems
            ]
        },
    ),
    ErrorProblem(UserNotFound, USER_NOT_FOUND),
    ErrorProblem(GroupNotFound, GROUP_NOT_FOUND),
    ErrorProblem(
        GroupNameTaken,
        GROUP_NAME_TAKEN,
        counted=lambda metrics, _e: metrics.conflict("group_name_taken"),
    ),
    ErrorProblem(
        EmailAlreadyRegistered,
        EMAIL_TAKEN,
        members=lambda e, _request: {
            "conflicts": [{"index": c.index, "email": c.email} for c in e.conflicts]
        },
        counted=lambda metrics, _e: metrics.conflict("email_taken"),
    ),
    ErrorProblem(
        VersionMismatch,
        PRECONDITION_FAILED,
        headers=lambda e: {"ETag": f'"{e.current_version}"'},
        counted=lambda metrics, _e: metrics.conflict("version_mismatch"),
    ),
    # application
    ErrorProblem(
        InvalidToken,
        INVALID_TOKEN,
        headers=lambda _e: {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        counted=lambda metrics, e: metrics.auth_failure(e.reason),
    ),
    ErrorProblem(
        InsufficientScope,
        INSUFFICIENT_SCOPE,
        headers=_insufficient_scope,
        counted=lambda metrics, _e: metrics.auth_failure("insufficient_scope"),
    ),
    ErrorProblem(
        StorageUnavailable,
        SERVICE_UNAVAILABLE,
        detail=_retry_shortly,
        headers=_retry_after,
        unavailable=True,
        counted=lambda metrics, e: metrics.unavailable(e.cause),
    ),
    ErrorProblem(
        AuthenticationUnavailable,
        SERVICE_UNAVAILABLE,
        detail=_retry_shortly,
        headers=_retry_after,
        unavailable=True,
        counted=lambda metrics, _e: metrics.unavailable("identity_provider"),
    ),
    ErrorProblem(
        IdempotencyKeyReused,
        IDEMPOTENCY_KEY_REUSED,
        members=lambda e, _request: {
            "errors": [
                _error_item(("header", "Idempotency-Key"), str(e), "idempotency_key_reused")
            ],
        },
    ),
    ErrorProblem(
        RequestInFlight,
        REQUEST_IN_FLIGHT,
        headers=_retry_after,
        counted=lambda metrics, _e: metrics.idempotency_in_flight(),
    ),
)


def _table(*rows: ErrorProblem[Any]) -> Mapping[type[Exception], ErrorProblem[Any]]:
    table: dict[type[Exception], ErrorProblem[Any]] = {}
    for row in rows:
        if row.error in table:
            raise RuntimeError(f"two problem rows for {row.error.__qualname__}")
        table[row.error] = row
    return MappingProxyType(table)


PROBLEMS = _table(*_ROWS)
"""Error class -> its answer. A class without a row answers as its nearest ancestor
that has one (`problem_for`); DomainError and ApplicationError themselves have none."""


def problem_for(error: type[BaseException]) -> ErrorProblem[Any] | None:
    """The row of `error`'s nearest class along its MRO that has one, if any."""
    for klass in error.__mro__:
        row = PROBLEMS.get(klass)
        if row is not None:
            return row
    return None


def error_problem(request: Request, exc: Exception) -> Response:
    """The one handler for DomainError and ApplicationError: the table's answer."""
    row = problem_for(type(exc))
    if row is None:
        raise exc  # an error class without a row here is a bug: let it be a logged 500
    return row.answer(request, exc)


def domain_problem(request: Request, exc: DomainError) -> Response:
    """The answer to a domain error, for the idempotency gate to store: not counted in
    the metrics (the error goes on to be answered, and counted, by the handler)."""
    row = problem_for(type(exc))
    if row is None:
        raise exc
    return row.answer(request, exc, count=False)


def _problem_error(request: Request, exc: ProblemError) -> Response:
    return problem_response(exc.problem, exc.detail, instance=request.url.path)


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return problem_response(
        VALIDATION_FAILED,
        "The request is not valid.",
        instance=request.url.path,
        errors=validation_errors(exc.errors()),
    )


def _endpoints(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _endpoints(nested.routes)
        elif getattr(route, "methods", None) and getattr(route, "path_regex", None):
            yield route


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names only the first route that matched the path; collect all.
    path = request.url.path
    methods: set[str] = set()
    for route in _endpoints(request.app.router.routes):
        if route.path_regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    problem = _BY_STATUS.get(exc.status_code) or ProblemType(
        exc.status_code, f"http_{exc.status_code}", "HTTP error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else problem.title
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"No route matches {request.url.path}."
    elif exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed here; use {headers['Allow']}."
    return problem_response(problem, detail, instance=request.url.path, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    # Starlette finds handlers along the exception's MRO: one per base class is enough.
    app.add_exception_handler(DomainError, error_problem)
    app.add_exception_handler(ApplicationError, error_problem)
    app.add_exception_handler(ProblemError, _problem_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
