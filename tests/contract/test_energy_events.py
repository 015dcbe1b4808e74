"""The two events csms's energy manager publishes to ops (SiteLoadReported after each allocation
round and at least every 15 s per site, SmartChargingRefused), as their JSON Schemas hold a
producer to them: what passes, what a producer's bug looks like and is refused before commit,
and that ops reads only what the schemas guarantee."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chargepark.errors import SchemaViolation
from chargepark.events.envelope import envelope
from chargepark.events.registry import known_events, schema_of, validate_event
from ops.consumers import READS

TS = "2026-12-07T18:00:00Z"

LOAD: dict[str, Any] = {
    "ts": TS,
    "site_id": "A1",
    "phases": 3,
    "voltage": 230,
    "limit_amps": [90.0, 90.0, 90.0],
    "other_load_amps": [12.0, -3.5, 0.0],
    "allocated_amps": [64.0, 64.0, 48.0],
    "drawn_amps": [61.2, 60.8, 31.0],
    "chargers": [
        {"charger_id": "CP-1", "evse_id": 1, "limit_amps": 32, "drawn_amps": 31.2, "paused": False},
        {"charger_id": "CP-2", "evse_id": 2, "limit_amps": 0, "drawn_amps": None, "paused": True},
    ],
}
REFUSED: dict[str, Any] = {
    "ts": TS,
    "site_id": "A1",
    "charger_id": "CP-2",
    "reason": "does not support smart charging",
}


def changed(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_both_events_are_known_and_read_by_ops():
    assert {"SiteLoadReported", "SmartChargingRefused"} <= set(known_events())
    for name in ("SiteLoadReported", "SmartChargingRefused"):
        schema = schema_of(name)
        assert schema["additionalProperties"] is False
        assert READS[name].required <= set(schema["required"])
    validate_event(envelope("SiteLoadReported", LOAD))
    validate_event(envelope("SiteLoadReported", {**LOAD, "chargers": [], "phases": 1}))
    validate_event(envelope("SmartChargingRefused", REFUSED))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("limit_amps",), [90.0, 90.0]),  # per phase: exactly three
        (("drawn_amps",), [1.0, 2.0, 3.0, 4.0]),
        (("drawn_amps",), None),  # the site's draw is always measured
        (("drawn_amps", 0), -1.0),  # a draw is never negative
        (("allocated_amps", 1), "64"),
        (("voltage",), 0),
        (("phases",), 4),
        (("site_id",), ""),
        (("chargers",), KeyError),
        (("chargers", 0, "drawn_amps"), KeyError),  # null when unknown, never left out
        (("chargers", 0, "paused"), "no"),
        (("chargers", 0, "name"), "Bay 12"),  # nothing undeclared leaks out
        (("regnum",), "AB123"),
    ],
)
def test_a_site_load_report_that_breaks_its_schema_is_refused(path, value):
    with pytest.raises(SchemaViolation):
        validate_event(envelope("SiteLoadReported", changed(LOAD, path, value)))


@pytest.mark.parametrize(
    ("path", "value"),
    [(("reason",), ""), (("reason",), "x" * 513), (("site_id",), KeyError), (("evse",), 1)],
)
def test_a_refusal_that_breaks_its_schema_is_refused(path, value):
    with pytest.raises(SchemaViolation):
        validate_event(envelope("SmartChargingRefused", changed(REFUSED, path, value)))
