"""What ops computes, without I/O: connector status intervals, occupancy over time, and when an
alert rule's condition held long enough to fire. Its submodules add the records of rules,
incidents and webhook deliveries (alerts), the facts ingestion keeps (facts), lot capacities
(capacity), the figures of the metrics routes (metrics) and the energy manager's site loads and
refusals with their alert conditions (energy).

Everything works on event time and sorts its input itself, so facts that arrived late or out of
order give the same answer as facts that arrived in order.
"""

from ops.domain.conditions import (
    InvoiceTime,
    RuleData,
    SessionTime,
    condition_spans,
    evaluate,
    idle_bay_spans,
    message_of,
    occupancy_spans,
    status_spans,
    unpaid_spans,
)
from ops.domain.occupancy import (
    Stay,
    energy_delivered_wh,
    occupancy_buckets,
    occupancy_steps,
    percent,
)
from ops.domain.rules import (
    SEVERITIES,
    Firing,
    RuleKind,
    RuleSpec,
    Span,
    firings,
    spans_of,
)
from ops.domain.status import (
    AVAILABLE,
    CATEGORIES,
    CHARGER_RANK,
    CHARGING,
    FAULTED,
    OCCUPIED,
    OFFLINE,
    OUTAGES,
    UNAVAILABLE,
    UNKNOWN,
    USABLE,
    ChargerTime,
    StatusChange,
    StatusInterval,
    category,
    charger_status,
    charger_time,
    connector_intervals,
)

__all__ = [
    "AVAILABLE",
    "CATEGORIES",
    "CHARGER_RANK",
    "CHARGING",
    "FAULTED",
    "OCCUPIED",
    "OFFLINE",
    "OUTAGES",
    "SEVERITIES",
    "UNAVAILABLE",
    "UNKNOWN",
    "USABLE",
    "ChargerTime",
    "Firing",
    "InvoiceTime",
    "RuleData",
    "RuleKind",
    "RuleSpec",
    "SessionTime",
    "Span",
    "StatusChange",
    "StatusInterval",
    "Stay",
    "category",
    "charger_status",
    "charger_time",
    "condition_spans",
    "connector_intervals",
    "energy_delivered_wh",
    "evaluate",
    "firings",
    "idle_bay_spans",
    "message_of",
    "occupancy_buckets",
    "occupancy_spans",
    "occupancy_steps",
    "percent",
    "spans_of",
    "status_spans",
    "unpaid_spans",
]
