"""OpenTelemetry traces: off unless `OTEL_TRACES_EXPORTER` names an exporter.

Configured by the standard variables, read from the process environment by the
OpenTelemetry SDK itself (not from the dotenv file): `OTEL_TRACES_EXPORTER` (`otlp`, for
OTLP over HTTP, or `console`), `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME` (default `users-service`),
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and its argument. Unset, or `none`,
means no tracing (not the SDK's `otlp` default), and then nothing here is imported.

Needs the `otel` extra (`pip install users-service[otel]`); without it, naming an
exporter is refused at start-up, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
DEFAULT_SERVICE_NAME = "users-service"


class TracingUnavailable(RuntimeError):
    """An exporter is named, but the OpenTelemetry SDK is not installed or is misnamed."""


@dataclass(frozen=True)
class Tracing:
    """What the service's parts trace with: one tracer, from one provider."""

    provider: Any  # opentelemetry.sdk.trace.TracerProvider
    tracer: Any  # opentelemetry.trace.Tracer

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what the batch processor still holds


def exporter_name(environ: Mapping[str, str]) -> str | None:
    name = environ.get(EXPORTER_VARIABLE, "").strip().lower()
    return None if name in ("", "none") else name


def tracing_from_environment(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """The process's tracing, as the OTEL_* variables describe it, or None."""
    environ = os.environ if environ is None else environ
    name = exporter_name(environ)
    if name is None:
        return None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise TracingUnavailable(
            f"{EXPORTER_VARIABLE}={name} needs the OpenTelemetry SDK: "
            "pip install 'users-service[otel]'"
        ) from exc
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise TracingUnavailable(
                f"{EXPORTER_VARIABLE}=otlp needs the OTLP exporter: "
                "pip install 'users-service[otel]'"
            ) from exc
        exporter: Any = OTLPSpanExporter()
    elif name == "console":
        exporter = ConsoleSpanExporter()
    else:
        raise TracingUnavailable(f"{EXPORTER_VARIABLE}={name}: use otlp, console or none")
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER is read here
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return tracing_with(provider)


def tracing_with(provider: Any) -> Tracing:
    """Tracing on `provider` (tests pass one with an in-memory exporter)."""
    return Tracing(provider, provider.get_tracer("users_service"))


def current_trace_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the active span, as W3C hex, for log lines."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def current_traceparent() -> str | None:
    """The active span as a W3C `traceparent`, for the events a request's changes record."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
