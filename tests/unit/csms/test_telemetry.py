"""Meter telemetry summaries: one reading per connector and transaction per batch, the newest
whole-meter energy and power, whatever order the samples come in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepark.clock import isoformat_utc
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from csms.adapters.telemetry import READINGS_PER_EVENT, telemetry_events
from tests.conftest import T0


def row(
    charger="CP-1",
    evse=1,
    tx="7",
    minute=0,
    measurand="Energy.Active.Import.Register",
    value="1000",
    unit="Wh",
    multiplier=None,
    phase=None,
):
    return {
        "charger_id": charger,
        "evse_id": evse,
        "connector_id": 1,
        "transaction_id": tx,
        "sampled_at": T0 + timedelta(minutes=minute),
        "measurand": measurand,
        "phase": phase,
        "unit": unit,
        "multiplier": multiplier,
        "value": value,
    }


def test_a_batch_is_summarized_per_connector_with_the_newest_energy_and_power():
    rows = [
        row(minute=5, value="5.5", unit="kWh"),
        row(minute=1, value="1200"),  # older: not the newest register
        row(minute=5, measurand="Power.Active.Import", value="11", unit="kW"),
        row(minute=5, measurand="Current.Import", value="16", unit="A", phase="L1"),
        row(minute=5, value="99999", phase="L1"),  # per-phase register: not the whole meter
        row(
            charger="CP-2",
            evse=2,
            tx=None,
            measurand="Power.Active.Import",
            value="7.4",
            unit="W",
            multiplier=3,
        ),
    ]
    [event] = telemetry_events(rows, T0)
    validate_event(envelope_of(event))
    first, second = event.readings
    assert first == {
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": "7",
        "samples": 5,
        "first_at": isoformat_utc(T0 + timedelta(minutes=1)),
        "last_at": isoformat_utc(T0 + timedelta(minutes=5)),
        "energy_wh": 5500,
        "power_w": 11000.0,
    }
    assert (second["energy_wh"], second["power_w"], second["transaction_id"]) == (
        None,
        7400.0,
        None,
    )


def test_unreadable_values_give_no_figure_rather_than_a_wrong_one():
    rows = [row(value="not-a-number"), row(measurand="Power.Active.Import", value="1", unit="VA")]
    [event] = telemetry_events(rows, T0)
    assert (event.readings[0]["energy_wh"], event.readings[0]["power_w"]) == (None, None)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308"])
def test_a_power_reading_with_no_finite_value_gives_no_figure(value):
    # As stored from a charger's NaN, Infinity or 1e308 kW: JSON has no NaN or Infinity
    # (RFC 8259 section 6), so an event carrying one is unreadable to a strict consumer.
    rows = [row(measurand="Power.Active.Import", value=value, unit="kW")]
    [event] = telemetry_events(rows, T0)
    assert event.readings[0]["power_w"] is None


def test_many_connectors_are_split_into_events_within_the_schema_bound():
    rows = [row(charger=f"CP-{i}") for i in range(READINGS_PER_EVENT + 3)]
    events = telemetry_events(rows, T0)
    assert [len(e.readings) for e in events] == [READINGS_PER_EVENT, 3]
    for event in events:
        validate_event(envelope_of(event))


@given(st.permutations(list(range(8))))
def test_the_newest_register_wins_in_any_arrival_order(order):
    rows = [row(minute=m, value=str(1000 + m)) for m in order]
    [event] = telemetry_events(rows, T0)
    assert event.readings[0]["energy_wh"] == 1007 and event.readings[0]["samples"] == 8


@given(
    st.sampled_from(["1e308", "-1e308", "NaN", "Infinity", "1e12", "1000000000001", "-5", "x"]),
    st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import"]),
    st.integers(-(2**31), 2**31 - 1),
)
def test_no_stored_value_makes_a_telemetry_event_a_consumer_cannot_store(value, measurand, mult):
    """The edge refuses such readings; rows stored before it did still make valid events."""
    unit = "Wh" if measurand.startswith("Energy") else "W"
    rows = [row(value=value, measurand=measurand, unit=unit, multiplier=mult)]
    for event in telemetry_events(rows, T0):
        validate_event(envelope_of(event))
