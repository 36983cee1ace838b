"""The edge middleware: request ids, metrics, the server span, the access log, body
limits, the last-resort 500.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, no buffering.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from users_service.entrypoints.http.problems import (
    INTERNAL_ERROR,
    PAYLOAD_TOO_LARGE,
    problem_response,
)
from users_service.entrypoints.http.telemetry import (
    EdgeTelemetry,
    ServerSpan,
    method_of,
    route_of,
)
from users_service.entrypoints.request_context import choose_request_id, request_id_var

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_CLOSE = {"Connection": "close"}
error_logger = logging.getLogger("users_service.errors")


class EdgeMiddleware:
    """The outer edge of every request, in one pure ASGI layer:

    - a request id (offered or made) on the response and in every log line;
    - the HTTP server metrics, a server span, and one access-log line per request
      (`telemetry.py`), each only when it is on;
    - bodies over `max_body_bytes` refused with 413: at once when Content-Length says
      so, or as soon as a streamed body crosses the limit, without reading the rest;
    - any uncaught exception turned into a generic 500 problem (the traceback goes to
      the log only).
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, telemetry: EdgeTelemetry) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = telemetry.metrics
        self.tracer = telemetry.tracer
        self.access_log = telemetry.access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = choose_request_id(headers.get("x-request-id"))
        token = request_id_var.set(request_id)
        extra_headers = [(b"x-request-id", request_id.encode("ascii")), _NOSNIFF]
        if scope["path"].startswith("/users"):
            extra_headers.append(_NO_STORE)  # personal data: never in a shared cache
        status = 500
        started = time.perf_counter()
        response_started = False
        limit = self.max_body_bytes
        received = 0
        metrics, method = self.metrics, method_of(scope)
        active = metrics.request_started(method) if metrics is not None else None
        span = ServerSpan(self.tracer, scope, headers, method) if self.tracer else None

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._too_large(), headers=_CLOSE)
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                response = problem_response(
                    PAYLOAD_TOO_LARGE, self._too_large(), instance=scope["path"], headers=_CLOSE
                )
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
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
            elapsed = time.perf_counter() - started
            route = route_of(scope) if active is not None or span is not None else ""
            if metrics is not None and active is not None:
                metrics.request_finished(active, method, route, status, elapsed)
            if self.access_log.wants(status):  # inside the span: the line carries its ids
                self.access_log(
                    scope["method"], scope["path"], status, round(elapsed * 1000, 3), request_id
                )
            if span is not None:
                span.end(route, status)
            request_id_var.reset(token)

    def _too_large(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes."
