"""Pure ASGI middleware: request ids, the access log, the last-resort 500, body limits.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, no buffering.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import INTERNAL_ERROR, PAYLOAD_TOO_LARGE, problem_response
from entrypoints.http.request_context import choose_request_id, request_id_var

access_logger = logging.getLogger("users_service.access")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
error_logger = logging.getLogger("users_service.errors")


class RequestContextMiddleware:
    """Gives every request an id, logs one line for it, and turns any uncaught
    exception into a generic 500 problem (the traceback goes to the log only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get("x-request-id")
        request_id = choose_request_id(offered)
        token = request_id_var.set(request_id)
        extra_headers = [(b"x-request-id", request_id.encode("ascii")), _NOSNIFF]
        if scope["path"].startswith("/users"):
            extra_headers.append(_NO_STORE)  # personal data: never in a shared cache
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception(
                "unhandled error",
                extra={"method": scope["method"], "path": scope["path"], "request_id": request_id},
            )
            if not response_started:
                response = problem_response(
                    INTERNAL_ERROR,
                    "An unexpected error occurred; it has been logged.",
                    instance=scope["path"],
                )
                await response(scope, receive, send_with_id)
        finally:
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": request_id,
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413: at once when Content-Length says so,
    or as soon as a streamed body crosses the limit, without reading the rest."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                PAYLOAD_TOO_LARGE,
                self._detail(),
                instance=scope["path"],
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail(), headers={"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body exceeds {self.max_bytes} bytes."
