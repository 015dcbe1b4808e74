"""Event envelopes and their JSON Schemas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest

from chargepark.errors import SchemaViolation
from chargepark.events.envelope import DomainEvent, envelope, envelope_of
from chargepark.events.registry import known_events, schema_of, validate_event
from chargepark.logging import correlation_id
from tests.conftest import T0

TS = "2026-11-27T09:00:00Z"

EXAMPLES = {
    "VehicleParked": {
        "lot_id": "A1",
        "level": "1",
        "slot_ui": "12",
        "regnum": "AB123",
        "kind": "CAR",
        "fuel": "EV",
        "charger_id": "CP-1",
        "connector_id": 1,
    },
    "VehicleLeft": {
        "lot_id": "A1",
        "level": "1",
        "slot_ui": "12",
        "regnum": "AB123",
        "kind": "CAR",
        "fuel": "EV",
        "arrived_at": TS,
        "duration_sec": 7200,
    },
    "ChargingSessionStarted": {
        "session_id": "s-1",
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "id_token": "RFID-1",
        "started_at": TS,
    },
    "ChargingSessionClosed": {
        "session_id": "s-1",
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "regnum": "AB123",
        "tariff_id": "T_STD",
        "started_at": TS,
        "ended_at": TS,
        "duration_sec": 1860,
        "energy_wh": 14300,
        "kwh": "14.300",
    },
    "MeterTelemetry": {
        "readings": [
            {
                "charger_id": "CP-1",
                "evse_id": 1,
                "connector_id": 1,
                "transaction_id": "17",
                "samples": 11,
                "first_at": "2026-11-27T10:00:00Z",
                "last_at": "2026-11-27T10:00:00Z",
                "energy_wh": 15300,
                "power_w": 11000.5,
            }
        ]
    },
    "ChargerStatusChanged": {
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "status": "Faulted",
        "error_code": "GroundFailure",
    },
    "InvoiceIssued": {
        "invoice_id": "inv-1",
        "customer_id": "c-1",
        "total_minor": 1234,
        "tax_minor": 197,
        "currency": "EUR",
    },
    "InvoicePaid": {
        "invoice_id": "inv-1",
        "amount_minor": 1234,
        "currency": "EUR",
        "provider": "stripe",
        "provider_ref": "in_123",
    },
    "CustomerCreated": {"customer_id": "c-1"},
    "VehicleLinked": {"customer_id": "c-1", "regnum": "AB123", "kind": "CAR", "fuel": "EV"},
    "VehicleUnlinked": {"customer_id": "c-1", "regnum": "AB123"},
    "IdTokenChanged": {
        "customer_id": "c-1",
        "id_token": "04A1B2C3",
        "type": "ISO14443",
        "status": "Blocked",
        "expires_at": None,
    },
    "SiteLoadReported": {
        "site_id": "A1",
        "phases": 3,
        "voltage": 230.0,
        "limit_amps": [90.0, 90.0, 90.0],
        "other_load_amps": [10.0, 8.5, 12.0],
        "allocated_amps": [64.0, 64.0, 48.0],
        "drawn_amps": [61.2, 60.8, 31.0],
        "chargers": [
            {
                "charger_id": "CP-1",
                "evse_id": 1,
                "limit_amps": 32.0,
                "drawn_amps": 31.2,
                "paused": False,
            },
            {
                "charger_id": "CP-2",
                "evse_id": 1,
                "limit_amps": 0.0,
                "drawn_amps": None,
                "paused": True,
            },
        ],
    },
    "SmartChargingRefused": {
        "site_id": "A1",
        "charger_id": "CP-2",
        "reason": "SetChargingProfile ChargePointMaxProfile: Rejected",
    },
    "AlertRaised": {
        "incident_id": "i-1",
        "rule_id": "r-1",
        "rule_kind": "charger_faulted",
        "severity": "critical",
        "subject": "CP-1",
        "message": "Faulted for 10 min",
    },
    "AlertResolved": {
        "incident_id": "i-1",
        "rule_id": "r-1",
        "rule_kind": "charger_faulted",
        "severity": "critical",
        "subject": "CP-1",
        "message": "Faulted for 10 min",
        "opened_at": TS,
        "cleared_at": TS,
    },
    "LotBaysChanged": {
        "lot_id": "A1",
        "bays": [{"slot_ui": "12", "charger_id": "CP-1", "connector_id": 1}],
    },
}


def test_every_event_with_a_schema_has_an_example_here():
    assert set(EXAMPLES) == set(known_events())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_of_each_event_matches_its_schema(name):
    validate_event(envelope(name, {"ts": TS, **EXAMPLES[name]}))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_required_field_is_required(name):
    for field in schema_of(name)["required"]:
        doc = envelope(name, {"ts": TS, **EXAMPLES[name]})
        del doc[field]
        with pytest.raises(SchemaViolation):
            validate_event(doc)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_no_event_carries_undeclared_fields_such_as_an_email(name):
    doc = envelope(name, {"ts": TS, **EXAMPLES[name], "email": "driver@example.com"})
    with pytest.raises(SchemaViolation, match="must not contain"):
        validate_event(doc)


def test_an_unknown_event_or_version_is_refused():
    with pytest.raises(SchemaViolation, match="no schema"):
        validate_event({"event": "VehicleTeleported", "schema_version": 1})
    doc = envelope("VehicleParked", {"ts": TS, **EXAMPLES["VehicleParked"]}, schema_version=2)
    with pytest.raises(SchemaViolation, match="no schema"):
        validate_event(doc)


@dataclass(frozen=True)
class SessionClosedExample(DomainEvent):
    name = "ChargingSessionClosed"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    ended_at: datetime
    duration_sec: int
    energy_wh: int
    kwh: Decimal
    ts: datetime


def test_a_domain_event_becomes_a_flat_envelope_with_exact_values():
    token = correlation_id.set("req-42")
    try:
        doc = envelope_of(
            SessionClosedExample(
                session_id="s-1",
                charger_id="CP-1",
                evse_id=1,
                connector_id=1,
                started_at=T0,
                ended_at=T0,
                duration_sec=0,
                energy_wh=14300,
                kwh=Decimal("14.300"),
                ts=T0,
            )
        )
    finally:
        correlation_id.reset(token)
    validate_event(doc)
    assert doc["event"] == "ChargingSessionClosed" and doc["schema_version"] == 1
    assert doc["kwh"] == "14.300" and doc["ts"] == "2026-11-27T09:00:00Z"
    assert doc["correlation_id"] == "req-42"
    assert uuid.UUID(doc["event_id"]).version == 4


def test_an_event_without_a_time_is_a_programming_error():
    with pytest.raises(ValueError, match="ts"):
        envelope("VehicleParked", EXAMPLES["VehicleParked"])
