"""The parking service through the embedded platform: its REST API under /parking, its events
out over the in-process bus (through the outbox), and csms's events in for the EV bays' view."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from chargepark.events.registry import validate_event
from tests.support.e2e_parking import LOT, a_lot, call


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_lot_is_created_read_listed_and_deleted(parking, http):
    await a_lot(http, parking)
    status, _, lot = await call(http, parking, "GET", "/lots/A1")
    assert status == 200
    assert [lv["level"] for lv in lot["levels"]] == ["P0", "P1"]
    assert lot["capacity"] == {"total": 5, "in_service": 5, "occupied": 0, "free": 5, "percent": 0}
    assert lot["levels"][0]["slots"][0] == {
        "slot_ui": 1,
        "fits": "CAR",
        "ev_bay": True,
        "charger_id": "CP-1",
        "connector_id": 1,
        "in_service": True,
    }
    status, _, page = await call(http, parking, "GET", "/lots", headers=parking.customer)
    assert status == 200 and [i["id"] for i in page["items"]] == ["A1"]
    status, _, problem = await call(http, parking, "POST", "/lots", LOT)
    assert status == 409 and problem["type"].endswith("conflict")
    assert (await call(http, parking, "DELETE", "/lots/A1"))[0] == 204
    assert (await call(http, parking, "GET", "/lots/A1"))[0] == 404


async def test_park_and_leave_answer_the_seed_shapes_and_emit_events(parking, http):
    await a_lot(http, parking)
    status, _, parked = await call(
        http, parking, "POST", "/lots/A1/park", {"regnum": "ab-12 3", "kind": "CAR", "fuel": "EV"}
    )
    assert status == 200
    assert parked == {
        "ok": True,
        "slot_ui": 1,
        "level": "P0",
        "message": "AB123 parked in slot 1 on level P0",
    }
    status, _, ice = await call(
        http, parking, "POST", "/lots/A1/park", {"regnum": "XY9", "kind": "CAR", "fuel": "ICE"}
    )
    assert (status, ice["slot_ui"]) == (200, 2)  # never the EV bay

    arrived = datetime.now(UTC) - timedelta(hours=2)
    status, _, left = await call(
        http,
        parking,
        "POST",
        "/lots/A1/leave",
        {"regnum": "AB123", "ts": (arrived + timedelta(hours=1)).isoformat()},
    )
    assert status == 409 and left["ok"] is False  # before the arrival (now)
    status, _, left = await call(http, parking, "POST", "/lots/A1/leave", {"slot_ui": 1})
    assert status == 200
    assert set(left) == {"ok", "message", "slot_ui", "duration_sec"}
    assert left["ok"] is True and left["slot_ui"] == 1

    [parked_event, _] = await parking.events_named("VehicleParked", 2)
    assert {
        k: parked_event[k]
        for k in (
            "lot_id",
            "level",
            "slot_ui",
            "regnum",
            "kind",
            "fuel",
            "charger_id",
            "connector_id",
        )
    } == {
        "lot_id": "A1",
        "level": "P0",
        "slot_ui": "1",
        "regnum": "AB123",
        "kind": "CAR",
        "fuel": "EV",
        "charger_id": "CP-1",
        "connector_id": 1,
    }
    [left_event] = await parking.events_named("VehicleLeft", 1)
    assert left_event["arrived_at"] == parked_event["ts"]
    assert left_event["duration_sec"] == left["duration_sec"]
    for event in parking.events:
        validate_event(event)


async def test_late_entries_carry_their_own_times_into_history(parking, http):
    await a_lot(http, parking)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for i, regnum in enumerate(("AA1", "BB2")):
        at = base + timedelta(minutes=10 * i)
        body = {"regnum": regnum, "kind": "CAR", "fuel": "ICE", "ts": at.isoformat()}
        assert (await call(http, parking, "POST", "/lots/A1/park", body))[0] == 200
    body = {"regnum": "AA1", "ts": (base + timedelta(hours=3)).isoformat()}
    status, _, left = await call(http, parking, "POST", "/lots/A1/leave", body)
    assert (status, left["duration_sec"]) == (200, 3 * 3600)
    future = {"regnum": "BB2", "ts": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    status, ctype, problem = await call(http, parking, "POST", "/lots/A1/leave", future)
    assert (status, ctype) == (422, "application/problem+json") and "future" in problem["detail"]
    again = {"regnum": "AA1", "kind": "CAR", "fuel": "ICE", "ts": base.isoformat()}
    status, _, problem = await call(http, parking, "POST", "/lots/A1/park", again)
    assert status == 409 and problem["ok"] is False  # before its own leave

    status, _, page = await call(http, parking, "GET", "/lots/A1/history?regnum=aa-1")
    assert status == 200
    assert [(e["action"], e["ts"]) for e in page["items"]] == [
        ("PARK", base.isoformat().replace("+00:00", "Z")),
        ("LEAVE", (base + timedelta(hours=3)).isoformat().replace("+00:00", "Z")),
    ]
    frm = (base + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    status, _, page = await call(http, parking, "GET", "/lots/A1/history", params={"from": frm})
    assert [e["regnum"] for e in page["items"]] == ["BB2", "AA1"]

    since = base.isoformat().replace("+00:00", "Z")
    until = (base + timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    status, _, occ = await call(
        http,
        parking,
        "GET",
        "/lots/A1/occupancy",
        params={"from": since, "to": until, "bucket_sec": "3600"},
    )
    assert status == 200
    assert occ["now"]["occupied"] == 1
    assert [b["peak_occupied"] for b in occ["series"]] == [2, 2, 2, 1]
    assert occ["series"][3]["mean_occupied"] == 1


async def test_full_lot_duplicates_and_bad_input_are_precise_problems(parking, http):
    await a_lot(http, parking)
    park = "/lots/A1/park"
    van = {"regnum": "VAN1", "kind": "VAN", "fuel": "ICE"}
    assert (await call(http, parking, "POST", park, van))[0] == 200
    status, ctype, problem = await call(http, parking, "POST", park, van)
    assert (status, ctype, problem["ok"]) == (409, "application/problem+json", False)
    assert problem["message"] == "vehicle already parked"
    status, _, problem = await call(http, parking, "POST", park, {**van, "regnum": "VAN2"})
    assert (status, problem["ok"], problem["message"]) == (409, False, "lot full")

    cases = [
        ({"regnum": "", "kind": "CAR", "fuel": "EV"}, 422),
        ({"regnum": "X" * 10_000, "kind": "CAR", "fuel": "EV"}, 422),
        ({"regnum": "AB$1", "kind": "CAR", "fuel": "EV"}, 422),
        ({"regnum": "AB1", "kind": "TRUCK", "fuel": "EV"}, 422),
        ({"regnum": "AB1", "kind": "CAR", "fuel": "DIESEL"}, 422),
        ({"regnum": "AB1", "kind": "CAR", "fuel": "EV", "ts": "yesterday"}, 422),
        ({"regnum": "AB1", "kind": "CAR", "fuel": "EV", "ts": "2026-01-01T10:00:00"}, 422),
        ({"regnum": "AB1", "kind": "CAR"}, 422),
        ({"regnum": "AB1", "kind": "CAR", "fuel": "EV", "extra": 1}, 422),
    ]
    for body, expected in cases:
        status, ctype, problem = await call(http, parking, "POST", park, body)
        assert (status, ctype) == (expected, "application/problem+json"), (body, problem)
        assert problem["status"] == expected and problem["detail"]
    async with http.post(
        parking.url(park),
        data=b"{not json",
        headers={**parking.operator, "Content-Type": "application/json"},
    ) as r:
        assert (r.status, r.content_type) == (400, "application/problem+json")
    async with http.post(parking.url(park), data=b"regnum=1", headers=parking.operator) as r:
        assert r.status == 415
    body = {"regnum": "AB1", "kind": "CAR", "fuel": "EV"}
    status, _, problem = await call(http, parking, "POST", "/lots/NOPE/park", body)
    assert (status, problem["ok"]) == (404, False)
    status, _, problem = await call(http, parking, "POST", "/lots/A1/leave", {"regnum": "ZZ9"})
    assert (status, problem["ok"]) == (404, False)
    assert (await call(http, parking, "POST", "/lots/A1/leave", {"ts": "x"}))[0] == 422
    status, _, _ = await call(http, parking, "GET", "/lots/A1/status?state=parked")
    assert status == 422
    status, _, _ = await call(http, parking, "GET", "/lots/A1/history?from=soon")
    assert status == 422
    assert (await call(http, parking, "GET", "/lots/A1/status", headers=parking.customer))[0] == 403


async def test_an_attendant_names_the_slot_and_patch_changes_the_lot(parking, http):
    await a_lot(http, parking)
    attended = {"regnum": "AB1", "kind": "CAR", "fuel": "ICE", "slot_ui": 10}
    status, _, parked = await call(http, parking, "POST", "/lots/A1/park", attended)
    assert (status, parked["slot_ui"], parked["level"]) == (200, 10, "P1")
    status, _, problem = await call(
        http, parking, "POST", "/lots/A1/park", {**attended, "regnum": "CD2", "slot_ui": 1}
    )
    assert (status, problem["message"]) == (409, "slot unavailable")  # an EV bay, ICE car

    status, _, problem = await call(http, parking, "PATCH", "/lots/A1", {"remove_slots": [10]})
    assert status == 409 and "occupied" in problem["detail"]
    changes = {
        "name": "Airport",
        "ev_bays_for_ice": True,
        "out_of_service": [2],
        "remove_slots": [3],
        "add_slots": [{"slot_ui": 20, "fits": "CAR", "level": "P2"}],
    }
    status, _, lot = await call(http, parking, "PATCH", "/lots/A1", changes)
    assert status == 200, lot
    assert [lv["level"] for lv in lot["levels"]] == ["P0", "P1", "P2"]
    assert lot["capacity"] == {
        "total": 5,
        "in_service": 4,
        "occupied": 1,
        "free": 3,
        "percent": 25.0,
    }
    # Slot 2 is out of service and ICE cars may now use EV bays (after regular slots).
    for regnum, slot in (("CD2", 20), ("EF3", 1)):
        body = {"regnum": regnum, "kind": "CAR", "fuel": "ICE"}
        status, _, parked = await call(http, parking, "POST", "/lots/A1/park", body)
        assert (status, parked["slot_ui"]) == (200, slot)
    assert (await call(http, parking, "DELETE", "/lots/A1"))[0] == 409

    status, _, view = await call(http, parking, "GET", "/lots/A1/status?state=occupied")
    assert status == 200
    assert [(r["slot_ui"], r["regnum"]) for r in view["ice"]] == [(10, "AB1"), (20, "CD2")]
    assert [(r["slot_ui"], r["regnum"], r["fuel"]) for r in view["ev"]] == [(1, "EF3", "ICE")]
    status, _, view = await call(http, parking, "GET", "/lots/A1/status?state=free&level=P1")
    assert [r["slot_ui"] for r in view["ice"]] == [11] and view["ev"] == []
    status, _, view = await call(http, parking, "GET", "/lots/A1/status?kind=VAN")
    assert [r["slot_ui"] for r in view["ice"]] == [11]


async def test_exports_are_rfc4180_and_formula_safe(parking, http):
    lot = {
        "id": "B2",
        "name": '=HYPERLINK("http://x")',
        "levels": [
            {
                "level": "=1+1",
                "slots": [
                    {
                        "slot_ui": 1,
                        "fits": "CAR",
                        "ev_bay": True,
                        "charger_id": "@SUM(A1)",
                        "connector_id": 1,
                    },
                    {"slot_ui": 2, "fits": "CAR"},
                ],
            },
            {"level": '-2, "quoted"', "slots": [{"slot_ui": 3, "fits": "CAR"}]},
        ],
    }
    await a_lot(http, parking, lot)
    await call(
        http, parking, "POST", "/lots/B2/park", {"regnum": "E1", "kind": "CAR", "fuel": "EV"}
    )
    async with http.get(parking.url("/lots/B2/export.csv"), headers=parking.operator) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        raw = await r.read()
    assert b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode())))
    assert rows[0][:3] == ["slot_ui", "level", "fits"]
    assert [r[1] for r in rows[1:]] == ["'=1+1", "'=1+1", '\'-2, "quoted"']
    assert rows[1][5] == "'@SUM(A1)" and rows[1][7] == "E1"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)

    async with http.get(
        parking.url("/lots/B2/export.json?history=1"), headers=parking.operator
    ) as r:
        doc = await r.json()
    assert doc["lot_id"] == "B2" and doc["export"] == "history"
    assert [(e["action"], e["regnum"], e["level"]) for e in doc["rows"]] == [("PARK", "E1", "=1+1")]
    async with http.get(parking.url("/lots/NOPE/export.csv"), headers=parking.operator) as r:
        assert (r.status, r.content_type) == (404, "application/problem+json")


async def test_the_ev_view_follows_csms_events_in_any_order(parking, http):
    await a_lot(http, parking)
    await call(
        http, parking, "POST", "/lots/A1/park", {"regnum": "EV1", "kind": "CAR", "fuel": "EV"}
    )
    t0 = datetime.now(UTC).replace(microsecond=0)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    session = str(uuid.uuid4())
    await parking.csms_says(
        "ChargerStatusChanged",
        charger_id="CP-1",
        evse_id=1,
        connector_id=1,
        status="Charging",
        ts=iso(t0 + timedelta(seconds=5)),
    )
    # An older status that arrives late changes nothing.
    await parking.csms_says(
        "ChargerStatusChanged",
        charger_id="CP-1",
        evse_id=1,
        connector_id=1,
        status="Preparing",
        ts=iso(t0),
    )
    await parking.csms_says(
        "MeterTelemetry",
        ts=iso(t0 + timedelta(seconds=60)),
        readings=[
            {
                "charger_id": "CP-1",
                "evse_id": 1,
                "connector_id": 1,
                "transaction_id": "7",
                "samples": 2,
                "first_at": iso(t0 + timedelta(seconds=30)),
                "last_at": iso(t0 + timedelta(seconds=60)),
                "energy_wh": 12_750,
                "power_w": 7400.0,
            }
        ],
    )
    await parking.csms_says(
        "ChargingSessionStarted",
        session_id=session,
        charger_id="CP-1",
        evse_id=1,
        connector_id=1,
        started_at=iso(t0),
        meter_start_wh=10_000,
        regnum="EV1",
        ts=iso(t0),
    )
    status, _, view = await call(http, parking, "GET", "/lots/A1/status/ev")
    assert status == 200
    [bay] = view["ev"]
    assert {
        k: bay[k]
        for k in (
            "slot_ui",
            "regnum",
            "charger_id",
            "connector_id",
            "connector_status",
            "session_active",
            "session_id",
            "kwh",
        )
    } == {
        "slot_ui": 1,
        "regnum": "EV1",
        "charger_id": "CP-1",
        "connector_id": 1,
        "connector_status": "Charging",
        "session_active": True,
        "session_id": session,
        "kwh": "2.750",
    }
    closed = {
        "session_id": session,
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "started_at": iso(t0),
        "ended_at": iso(t0 + timedelta(minutes=5)),
        "duration_sec": 300,
        "energy_wh": 3000,
        "kwh": "3.000",
        "ts": iso(t0 + timedelta(minutes=5)),
    }
    await parking.csms_says("ChargingSessionClosed", **closed)
    # The start delivered again (at least once) does not reopen the closed session.
    await parking.csms_says(
        "ChargingSessionStarted",
        session_id=session,
        charger_id="CP-1",
        evse_id=1,
        connector_id=1,
        started_at=iso(t0),
        meter_start_wh=10_000,
        ts=iso(t0),
    )
    [bay] = (await call(http, parking, "GET", "/lots/A1/status/ev"))[2]["ev"]
    assert (bay["session_active"], bay["kwh"]) == (False, None)
