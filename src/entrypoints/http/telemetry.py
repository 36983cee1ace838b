"""What the edge reports about each request: metrics, a server span, an access-log line.

`route_of` names the route a request matched by its template, for metric labels and span
names: `/users/{user_id}` (converters dropped, a trailing-slash twin folded into its
route), or `unmatched` for every path no route serves, so that a scanner cannot create a
series per path it tries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from users_service.adapters.metrics import PrometheusMetrics
from users_service.entrypoints.access_log import AccessLog

UNMATCHED = "unmatched"
# OpenTelemetry's rule for http.request.method: known methods as they are, others _OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def method_of(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in _METHODS else "_OTHER"


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    raw = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(raw, str) or not raw:
        return UNMATCHED
    return raw.rstrip("/") or "/"


@dataclass(frozen=True, slots=True)
class EdgeTelemetry:
    """What the edge middleware reports to; each part may be off (None, or disabled)."""

    metrics: PrometheusMetrics | None
    tracer: Any  # an OpenTelemetry tracer, or None
    access_log: AccessLog


class ServerSpan:
    """The request's server span, parented by the caller's W3C `traceparent`, current
    while the request runs (database and identity-provider spans nest under it, and log
    lines carry its ids). Named `METHOD /route/template` once routing is known."""

    __slots__ = ("_method", "_span", "_token")

    def __init__(self, tracer: Any, scope: Scope, headers: Any, method: str) -> None:
        from opentelemetry import context, trace
        from opentelemetry.propagate import extract

        self._method = method
        self._span = tracer.start_span(
            method,
            context=extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        self._token = context.attach(trace.set_span_in_context(self._span))

    def end(self, route: str, status: int) -> None:
        from opentelemetry import context
        from opentelemetry.trace import StatusCode

        span = self._span
        if route != UNMATCHED:
            span.update_name(f"{self._method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(StatusCode.ERROR)
        span.end()
        context.detach(self._token)
