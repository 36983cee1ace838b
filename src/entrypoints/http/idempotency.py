"""`Idempotency-Key` at the edge: fingerprint the request, replay or run and record."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from users_service.application.access import Principal
from users_service.application.idempotency import Idempotency
from users_service.application.idempotency_store import (
    IdempotencyClaim,
    Result,
    StoredResponse,
)
from users_service.domain.errors import DomainError
from users_service.entrypoints.http.header_docs import optional_header
from users_service.entrypoints.http.problems import domain_problem

_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(_KEY_PATTERN)
IDEMPOTENCY_KEY_DOC = optional_header(
    "Idempotency-Key",
    "1 to 255 visible ASCII characters; a repeat replays the first answer",
    pattern=_KEY_PATTERN,
)

_KEPT_HEADERS = ("content-type", "location", "etag")
ANONYMOUS = "anonymous"


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, if it sent one; a malformed key is a 422."""
    key = request.headers.get("idempotency-key")
    if key is not None and _KEY.fullmatch(key) is None:
        error = {
            "type": "string_pattern_mismatch",
            "loc": ("header", "Idempotency-Key"),
            "msg": f"String should match pattern '{_KEY_PATTERN}'",
            "input": key,
        }
        raise RequestValidationError([error])
    return key


def _fingerprint(request: Request, body: BaseModel) -> str:
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical)
    return digest.hexdigest()


def _stored(response: Response) -> StoredResponse:
    headers = tuple((n, response.headers[n]) for n in _KEPT_HEADERS if n in response.headers)
    return StoredResponse(response.status_code, bytes(response.body), headers)


def _replayed(stored: StoredResponse) -> Response:
    headers = {name: value for name, value in stored.headers if name != "content-type"}
    headers["Idempotent-Replayed"] = "true"
    media_type = dict(stored.headers).get("content-type")
    return Response(stored.body, stored.status, headers=headers, media_type=media_type)


class IdempotentRequests:
    """Runs a create (of users, of a group) or a change of members under an optional
    Idempotency-Key, scoped to the caller."""

    def __init__(self, gate: Idempotency, on_replay: Callable[[], None] | None = None) -> None:
        self._gate = gate
        self._on_replay = on_replay  # metrics: a stored answer was replayed

    async def run(
        self,
        request: Request,
        actor: Principal,
        body: BaseModel,
        execute: Callable[[IdempotencyClaim[Result] | None], Awaitable[Result]],
        render: Callable[[Result], Response],
    ) -> Response:
        key = idempotency_key(request)
        if key is None:
            return render(await execute(None))
        # Keys belong to the caller: two clients using one key never see each other's answers.
        scope = f"sub:{actor.subject}" if actor.subject else ANONYMOUS
        replay = await self._gate.begin(scope, key, _fingerprint(request, body))
        if replay is not None:
            if self._on_replay is not None:
                self._on_replay()
            return _replayed(replay)
        rendered: list[Response] = []

        def snapshot(result: Result) -> StoredResponse:
            rendered.append(render(result))
            return _stored(rendered[-1])

        try:
            await execute(IdempotencyClaim(scope, key, snapshot))
        except DomainError as exc:
            # The request itself was refused: a repeat gets the same refusal.
            await self._gate.refuse(scope, key, _stored(domain_problem(request, exc)))
            raise
        except BaseException:
            await self._gate.abandon(scope, key)
            raise
        return rendered[-1]
