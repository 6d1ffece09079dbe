"""OpenTelemetry traces: one span per tool call in the gateway, in the worker, and per XO request.

Off unless an OTLP/HTTP endpoint is configured (`[telemetry] otlp_endpoint` in a fleet,
`OTEL_EXPORTER_OTLP_ENDPOINT` for a standalone worker). Off, nothing of OpenTelemetry's SDK is
imported and each hook is one test of a module global (`span()` hands back a shared null
context, `headers()` an empty dict): a worker or a gateway pays nothing for it.

On, spans go to the endpoint in batches from a background thread (the SDK's
BatchSpanProcessor), and W3C trace context links them: the client's `traceparent` (MCP `_meta`
or HTTP header) parents the gateway's span, `wire.Call.traceparent` the worker's, and every XO
request carries the `traceparent` of its own span.

The provider is ours, not OpenTelemetry's global one: the MCP SDK's own middleware (which
traces every message, `initialize` and `tools/list` included) stays a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from xo_mcp import __version__

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"  # the OpenTelemetry standard: a base URL
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"  # the full URL, if set
BATCH_DELAY_MS = 1000  # spans leave within a second (the SDK's default is 5)
EXPORT_TIMEOUT_S = 3.0
SpanKind = Literal["server", "client", "internal"]

_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
_tracer: Any = None
_provider: Any = None


def endpoint_from(environ: Mapping[str, str] | None = None) -> str | None:
    """The traces URL the standard variables name, if any."""
    environ = os.environ if environ is None else environ
    full = environ.get(TRACES_ENDPOINT_ENV, "").strip()
    if full:
        return full
    base = environ.get(ENDPOINT_ENV, "").strip()
    return traces_url(base) if base else None


def traces_url(base: str) -> str:
    """`http://collector:4318` → `http://collector:4318/v1/traces` (OTLP/HTTP's path)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def enabled() -> bool:
    return _tracer is not None


def configure(service: str, endpoint: str | None, **attributes: str | None) -> bool:
    """Start exporting spans of `service` to `endpoint` (a traces URL); False when off."""
    global _tracer, _provider
    if not endpoint:
        return False
    # Imported here only: when off, none of it is ever loaded.
    import requests
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": service,
            "service.version": __version__,
            **{key: value for key, value in attributes.items() if value},
        }
    )
    provider = TracerProvider(resource=resource)
    delay = int(os.environ.get("OTEL_BSP_SCHEDULE_DELAY") or BATCH_DELAY_MS)
    # Straight to the collector: a worker's proxy variables are for its XO, not for this.
    session = requests.Session()
    session.trust_env = False
    # A short timeout: a collector that is down must not hold up a stop for long.
    exporter = OTLPSpanExporter(endpoint=endpoint, session=session, timeout=EXPORT_TIMEOUT_S)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    _provider, _tracer = provider, provider.get_tracer("xo_mcp", __version__)
    return True


def shutdown() -> None:
    """Send what is still batched (at most a few seconds), then stop."""
    global _tracer, _provider
    if _provider is not None:
        with contextlib.suppress(Exception):
            _provider.shutdown()
    _tracer = _provider = None


def span(
    name: str,
    *,
    kind: SpanKind = "internal",
    parent: str | None = None,
    tracestate: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span around the block, current within it: a child of `parent` (a W3C traceparent)
    when given, else of the current span. Off, a shared null context."""
    if _tracer is None:
        return _OFF
    return _span(name, kind, parent, tracestate, attributes)


@contextlib.contextmanager
def _span(
    name: str,
    kind: SpanKind,
    parent: str | None,
    tracestate: str | None,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind as Kind

    context = _context_of(parent, tracestate) if parent else None
    kinds = {"server": Kind.SERVER, "client": Kind.CLIENT, "internal": Kind.INTERNAL}
    values = {key: value for key, value in (attributes or {}).items() if value is not None}
    with _tracer.start_as_current_span(
        name, context=context, kind=kinds[kind], attributes=values
    ) as current:
        yield current


def _context_of(traceparent: str, tracestate: str | None) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return TraceContextTextMapPropagator().extract(carrier)


def headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, for an outgoing request."""
    if _tracer is None:
        return {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier


def traceparent() -> str | None:
    return headers().get("traceparent") if _tracer is not None else None


def failed(current: Any, description: str | None = None) -> None:
    """Mark `current` (a span from `span()`, or None when off) as an error."""
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))


def annotate(current: Any, **attributes: Any) -> None:
    """Add attributes to `current` (None when off)."""
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})
