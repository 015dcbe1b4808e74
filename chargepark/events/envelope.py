"""The flat JSON envelope every event travels in.

`{"event": "VehicleParked", "event_id": uuid, "schema_version": 1, "ts": ISO-8601 UTC,
"correlation_id": ..., ...fields}`; with tracing on, also the W3C `traceparent` (and
`tracestate`) of the span that emitted it, so its consumers continue that trace. Domain code
returns DomainEvent dataclasses; the unit of work turns them into envelopes when it writes them
to the outbox.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

from chargepark import tracing
from chargepark.clock import isoformat_utc
from chargepark.logging import correlation_id as current_correlation_id

ENVELOPE_FIELDS = ("event", "event_id", "schema_version", "ts", "correlation_id")
# Optional, present only while tracing is on (chargepark.tracing).
TRACE_FIELDS = ("traceparent", "tracestate")


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """Base of the events services emit. Subclasses are frozen dataclasses with a `ts` field."""

    name: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def fields(self) -> dict[str, Any]:
        return {f.name: to_json_value(getattr(self, f.name)) for f in dataclasses.fields(self)}


def to_json_value(value: Any) -> Any:
    """Datetimes as ISO UTC, Decimals as strings (exact), enums by value."""
    if isinstance(value, datetime):
        return isoformat_utc(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def envelope(
    name: str,
    fields: dict[str, Any],
    *,
    schema_version: int = 1,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    if "ts" not in fields:
        raise ValueError(f"{name}: an event carries the time it happened (`ts`)")
    doc = {
        "event": name,
        "event_id": event_id or str(uuid.uuid4()),
        "schema_version": schema_version,
        "correlation_id": correlation_id or current_correlation_id.get(),
        **fields,
    }
    if tracing.enabled:
        doc.update(tracing.current_trace_context())
    return doc


def envelope_of(event: DomainEvent, *, event_id: str | None = None) -> dict[str, Any]:
    return envelope(
        event.name, event.fields(), schema_version=event.schema_version, event_id=event_id
    )
