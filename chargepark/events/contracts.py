"""What a consumer reads of the events it takes: consumer-driven contracts.

Each service's consumer declares, per event type, the schema versions it can read and the
fields its handlers read: `required` ones read without a default (`event["x"]`), `optional`
ones read with one (`event.get("x")`). tests/contract checks every declaration against the
producers' JSON Schemas (a required field must be one the schema requires) and against the
events the producers really emit in a run of the platform, so a producer change that breaks a
consumer fails CI before anything runs together.

At run time a consumer takes only the versions it declares. An event of another version is
parked in dead_letters at once (never retried: waiting does not make it readable) and counted
in `chargepark_events_unreadable_total`, which an alert rule watches (docs/ops.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

UNREADABLE = Counter(
    "chargepark_events_unreadable_total",
    "Events a consumer could not read (a schema version it does not declare), dead-lettered",
    ["consumer", "event", "version"],
)


@dataclass(frozen=True)
class Reads:
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    versions: frozenset[int] = frozenset({1})

    @property
    def fields(self) -> frozenset[str]:
        return self.required | self.optional


def reads(
    required: Iterable[str], optional: Iterable[str] = (), versions: Iterable[int] = (1,)
) -> Reads:
    return Reads(frozenset(required), frozenset(optional), frozenset(versions))


# Every event carries these (the envelope); a consumer may read them without declaring them.
ENVELOPE = frozenset(
    {"event", "event_id", "schema_version", "ts", "correlation_id", "traceparent", "tracestate"}
)


@dataclass(frozen=True)
class RestReads:
    """What a service reads of another service's REST answer (`service`, `method path`)."""

    service: str
    operation: str  # e.g. "GET /id-tokens/{id_token}"
    status: int
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


Contract = Mapping[str, Reads]
