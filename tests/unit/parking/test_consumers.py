"""Parking's event handlers on the fake live view: what each event writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepark.clock import NotATime
from parking.consumers import (
    charger_status_changed,
    meter_telemetry,
    session_closed,
    session_started,
)
from tests.conftest import T0
from tests.support.fakes.parking import FakeChargerView


async def test_a_status_is_kept_per_connector_with_the_events_time():
    view = FakeChargerView()
    event = {"charger_id": "CP-1", "evse_id": 2, "status": "Faulted", "ts": "2026-11-27T09:00:00Z"}
    await charger_status_changed({**event, "error_code": "GroundFailure"}, view)
    assert view.statuses[("CP-1", 2)] == {
        "charger_id": "CP-1",
        "evse_id": 2,
        "status": "Faulted",
        "error_code": "GroundFailure",
        "status_at": T0,
    }
    with pytest.raises(NotATime):
        await charger_status_changed({**event, "ts": "2026-11-27T09:00:00"}, view)


async def test_a_session_is_opened_then_closed():
    view = FakeChargerView()
    opened = {
        "session_id": "S-1",
        "charger_id": "CP-1",
        "evse_id": 1,
        "started_at": "2026-11-27T09:00:00Z",
        "meter_start_wh": 100,
    }
    await session_started(opened, view)
    await session_closed(
        {**opened, "ended_at": "2026-11-27T10:00:00+01:00", "energy_wh": 900, "kwh": "0.9"}, view
    )
    row = view.sessions["S-1"]
    assert (row["started_at"], row["ended_at"], row["energy_wh"], row["regnum"]) == (
        T0,
        T0,
        900,
        None,
    )


async def test_telemetry_keeps_the_newest_energy_reading_of_each_connector():
    view = FakeChargerView()
    readings = [
        {"charger_id": "CP-1", "evse_id": 1, "energy_wh": 10, "last_at": "2026-11-27T09:00:00Z"},
        {"charger_id": "CP-1", "evse_id": 1, "energy_wh": 20, "last_at": "2026-11-27T09:05:00Z"},
        {"charger_id": "CP-1", "evse_id": 2, "energy_wh": None, "last_at": "2026-11-27T09:05:00Z"},
    ]
    await meter_telemetry({"readings": readings}, view)
    assert view.readings == {
        ("CP-1", 1): {
            "charger_id": "CP-1",
            "evse_id": 1,
            "energy_wh": 20,
            "read_at": T0 + timedelta(minutes=5),
        }
    }
    await meter_telemetry({"readings": readings[2:]}, view)  # nothing to write
    assert len(view.readings) == 1
