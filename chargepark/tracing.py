"""OpenTelemetry tracing, off unless the standard `OTEL_*` variables ask for it.

`configure()` runs once at process start (the CLI's `up` and `serve`) and decides: tracing is on
when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`), or, with that variable unset,
when an OTLP endpoint is given (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
keep it off. Everything else the SDK reads itself: `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_*` (headers,
timeout, compression), `OTEL_BSP_*` (batching). Spans are exported over OTLP/HTTP (protobuf).

`enabled` is a plain module attribute. Code on a hot path reads it once (when a connection is
accepted, when an app is built) or tests it before building anything, so tracing that is off
costs a boolean test at most: no span, no attribute dictionary, no context switch.

Spans made here: HTTP server requests (`chargepark.http.tracing`), OCPP calls answered and sent
(`csms.ocpp.base`), database statements (`chargepark.db.tracing`), events published by an
outbox relay (PRODUCER) and applied by a consumer (CONSUMER), and outgoing calls
(service-to-service REST, Stripe). The W3C `traceparent` of the span that emitted an event
travels in the event's envelope, so the consumer's span, and anything it emits in turn,
continue the producer's trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chargepark import __version__
from chargepark.errors import ConfigError

log = logging.getLogger(__name__)

enabled = False
"""True once a tracer provider is installed; read it before doing any tracing work."""

_tracer: trace.Tracer = trace.NoOpTracer()
_provider: Any = None  # the SDK's TracerProvider, when on
_propagator = TraceContextTextMapPropagator()
_old_factory: Any = None  # the LogRecord factory before ours

TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# In a compact JSON document (an outbox row's payload) the envelope's field, found without
# parsing it: inside a JSON string every quote is escaped, so this matches only a key.
_IN_PAYLOAD = re.compile(r'"traceparent":"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')

EXPORTERS = ("otlp", "console")
_NULL = contextlib.nullcontext()

# --- set-up ------------------------------------------------------------------------------------


def exporters_wanted(env: Mapping[str, str]) -> list[str]:
    """The exporters the environment asks for; [] means tracing off. Raises ConfigError."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [n for n in named if n]
    if not named:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        if not endpoint:
            return []
        named = ["otlp"]
    if named == ["none"]:
        return []
    unknown = [n for n in named if n not in EXPORTERS]
    if unknown:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER: {unknown[0]!r} is not available (use one of: "
            f"{', '.join(EXPORTERS)}, none)"
        )
    if "otlp" in named:
        for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = env.get(var, "").strip()
            if protocol:
                if protocol != "http/protobuf":
                    raise ConfigError(
                        f"{var}: {protocol!r} is not available; spans go over OTLP/HTTP "
                        "(http/protobuf, port 4318 by default)"
                    )
                break
    return list(dict.fromkeys(named))


def configure(default_service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the tracer provider the environment asks for; returns whether tracing is on.

    `default_service_name` names the process when neither OTEL_SERVICE_NAME nor
    OTEL_RESOURCE_ATTRIBUTES gives `service.name`.
    """
    env = os.environ if env is None else env
    exporters = exporters_wanted(env)
    if not exporters:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create({})  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    resource = resource.merge(Resource({SERVICE_VERSION: __version__}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    install(provider)
    log.info(
        "tracing on",
        extra={"exporters": exporters, "service_name": resource.attributes.get(SERVICE_NAME)},
    )
    return True


def install(provider: Any) -> None:
    """Trace through `provider` (an SDK TracerProvider) from now on. Tests install one with an
    in-memory exporter; call it before the platform starts, since connections and apps choose
    their hooks when they are made."""
    global enabled, _tracer, _provider, _old_factory
    _provider = provider
    _tracer = provider.get_tracer("chargepark", __version__)
    enabled = True
    if _old_factory is None:
        _old_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_record_with_trace)


def uninstall() -> None:
    """Back to no tracing (tests)."""
    global enabled, _tracer, _provider, _old_factory
    enabled = False
    _tracer = trace.NoOpTracer()
    _provider = None
    if _old_factory is not None:
        logging.setLogRecordFactory(_old_factory)
        _old_factory = None


def shutdown() -> None:
    """Export what is still buffered and stop the exporters (at process exit)."""
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:  # an unreachable collector must not fail the shutdown
            log.warning("tracing shutdown failed", exc_info=True)


def _record_with_trace(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Every log line written inside a span carries its ids (JSON logs show them as fields).
    assert _old_factory is not None
    record: logging.LogRecord = _old_factory(*args, **kwargs)
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        record.trace_id = f"{ctx.trace_id:032x}"
        record.span_id = f"{ctx.span_id:016x}"
    return record


# --- context -----------------------------------------------------------------------------------


def current_trace_context() -> dict[str, str]:
    """`{"traceparent": ..., "tracestate": ...}` of the current span ({} without one); the
    `tracestate` key only when there is one."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    found = {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"}
    if ctx.trace_state:
        state = ctx.trace_state.to_header()
        if state and len(state) <= 512:
            found["tracestate"] = state
    return found


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's `traceparent` (and `tracestate`) into outgoing HTTP headers."""
    if enabled:
        _propagator.inject(headers)


def extract(carrier: Mapping[str, Any]) -> otel_context.Context | None:
    """The remote parent named by a carrier's `traceparent` (HTTP headers, an event), if any."""
    parent = carrier.get("traceparent")
    if not isinstance(parent, str) or not TRACEPARENT.match(parent):
        return None
    fields = {"traceparent": parent}
    state = carrier.get("tracestate")
    if isinstance(state, str):
        fields["tracestate"] = state
    return _propagator.extract(fields)


def traceparent_in_payload(payload: str) -> str | None:
    """The `traceparent` of a serialized event envelope, without parsing the whole of it."""
    found = _IN_PAYLOAD.search(payload)
    return found.group(1) if found else None


def detached_context() -> contextvars.Context:
    """A copy of the current context without its span: for a task that works for many callers
    (a batch writer), whose events then belong to no one caller's trace."""
    copied = contextvars.copy_context()
    copied.run(otel_context.attach, otel_context.Context())
    return copied


# --- spans -------------------------------------------------------------------------------------


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A current span (exceptions recorded, status ERROR on one). Only call it when `enabled`,
    or where its cost does not matter: off, it is the API's no-op span."""
    return _tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
    )


def client_span(name: str, attributes: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """A CLIENT span around an outgoing call; nothing at all (None) when tracing is off."""
    if not enabled:
        return _NULL
    return span(name, kind=SpanKind.CLIENT, attributes=attributes)


def server_span(
    name: str, attributes: Mapping[str, Any], carrier: Mapping[str, Any] | None
) -> contextlib.AbstractContextManager[Any]:
    """A SERVER span for a request that came in, a child of the caller's span that `carrier`
    (the request's headers) names; nothing at all (None) when tracing is off."""
    if not enabled:
        return _NULL
    return span(name, kind=SpanKind.SERVER, attributes=attributes, parent=extract(carrier or {}))


def job_span(name: str, attributes: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """A root span for one piece of a background job's work (a visit invoiced, an invoice
    collected), so its outgoing calls and events share a trace; nothing when tracing is off."""
    if not enabled:
        return _NULL
    return span(name, attributes=attributes, parent=otel_context.Context())


def set_attribute(key: str, value: Any) -> None:
    """On the current span, when tracing is on."""
    if enabled:
        trace.get_current_span().set_attribute(key, value)


def set_error(description: str) -> None:
    """Mark the current span failed (a 5xx, an OCPP CALLERROR), when tracing is on."""
    if enabled:
        trace.get_current_span().set_status(Status(StatusCode.ERROR, description[:200]))


@contextlib.contextmanager
def _consuming(consumer: str, event: Mapping[str, Any], attempt: int) -> Iterator[Span]:
    parent = extract(event)
    if parent is not None:
        # In-process the relay's PRODUCER span is current here: when it is of the same trace
        # the consumer's span hangs under it (publish -> process), else under the emitter.
        here = trace.get_current_span().get_span_context()
        there = trace.get_current_span(parent).get_span_context()
        if here.is_valid and here.trace_id == there.trace_id:
            parent = None
    name = str(event.get("event", ""))
    attributes = {
        "messaging.system": "chargepark",
        "messaging.operation": "process",
        "messaging.destination.name": name,
        "messaging.message.id": str(event.get("event_id", "")),
        "messaging.consumer.group.name": consumer,
        "chargepark.delivery_attempt": attempt,
    }
    with span(f"process {name}", kind=SpanKind.CONSUMER, attributes=attributes, parent=parent) as s:
        yield s


def consuming(
    consumer: str, event: Mapping[str, Any], attempt: int
) -> contextlib.AbstractContextManager[Any]:
    """A CONSUMER span for one delivery of an event, child of the span that emitted it."""
    if not enabled:
        return _NULL
    return _consuming(consumer, event, attempt)


def publishing(
    service: str, event_type: str, event_id: str, payload: str
) -> contextlib.AbstractContextManager[Any]:
    """A PRODUCER span for one event an outbox relay publishes, child of the span that emitted
    it (the relay runs later, outside the request)."""
    if not enabled:
        return _NULL
    found = traceparent_in_payload(payload)
    parent = extract({"traceparent": found}) if found else None
    attributes = {
        "messaging.system": "chargepark",
        "messaging.operation": "publish",
        "messaging.destination.name": event_type,
        "messaging.message.id": event_id,
        "chargepark.service": service,
    }
    return span(
        f"publish {event_type}",
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        parent=parent if parent is not None else otel_context.Context(),
    )


# --- database statements ------------------------------------------------------------------------


def tracer() -> trace.Tracer:
    """The tracer spans are made with now (the API's no-op one while tracing is off)."""
    return _tracer


def db_attributes(system: str, statement: str) -> dict[str, str]:
    """A statement's span attributes: its text (with placeholders, never the values), cut to
    2,000 characters, and its first word as the operation."""
    text = " ".join(statement.split())
    return {
        "db.system": system,
        "db.operation": text.split(" ", 1)[0].upper() if text else "",
        "db.statement": text[:2000],
    }


def db_span(
    system: str, statement: str, operation: str | None = None
) -> contextlib.AbstractContextManager[Any]:
    """A CLIENT span around one statement sent past SQLAlchemy (`operation` names what a
    statement of several parts does); nothing when tracing is off."""
    if not enabled:
        return _NULL
    attributes = db_attributes(system, statement)
    if operation is not None:
        attributes["db.operation"] = operation
    return span(
        f"{attributes['db.operation']} {system}", kind=SpanKind.CLIENT, attributes=attributes
    )
