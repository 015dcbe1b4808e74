"""Session rules over real OCPP sockets: ConcurrentTx, seqNo holes, offline replays, energy when
the registers fall short, the vehicle parked at the bay, the tariff in force, a dropped charger."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargepark.events.envelope import envelope
from tests.support.chargers import Csms, closed_events, connect, register, session_of, start_csms


@pytest.fixture
async def csms(tmp_path) -> AsyncIterator[Csms]:
    # No accounts here: every token is Accepted under the offline policy, so the rules under
    # test are the session's own.
    platform, csms = await start_csms(tmp_path, env={"CHARGEPARK_OCPP_OFFLINE_AUTH": "accept"})
    yield csms
    await platform.stop()


def start16(connector: int, tag: str, meter: int, minute: int) -> Any:
    return call16.StartTransaction(
        connector_id=connector,
        id_tag=tag,
        meter_start=meter,
        timestamp=f"2026-11-27T10:{minute:02d}:00Z",
    )


def register_value(wh: int, ts: str, measurand: str = "Energy.Active.Import.Register") -> dict:
    """A 2.0.1 meter value with one sampled value in Wh."""
    return {
        "timestamp": ts,
        "sampledValue": [{"value": wh, "measurand": measurand, "unitOfMeasure": {"unit": "Wh"}}],
    }


async def test_v16_a_token_in_an_ongoing_transaction_is_answered_concurrent_tx(http, csms):
    await register(http, csms, id="CP-C")
    cp = await connect(csms, "CP-C")
    first = await cp.call(start16(1, "RFID-C", 0, 0))
    assert first.id_tag_info["status"] == "Accepted"
    assert (await cp.call(call16.Authorize(id_tag="RFID-C"))).id_tag_info["status"] == (
        "ConcurrentTx"
    )
    second = await cp.call(start16(2, "RFID-C", 0, 1))
    assert second.id_tag_info["status"] == "ConcurrentTx"
    # The retransmitted first start keeps its first answer, not ConcurrentTx with itself.
    assert (await cp.call(start16(1, "RFID-C", 0, 0))).id_tag_info["status"] == "Accepted"
    for tx in (first.transaction_id, second.transaction_id):
        await cp.call(
            call16.StopTransaction(
                meter_stop=10, timestamp="2026-11-27T10:05:00Z", transaction_id=tx
            )
        )
    assert (await cp.call(call16.Authorize(id_tag="RFID-C"))).id_tag_info["status"] == "Accepted"
    async with http.get(csms.url("/sessions?charger_id=CP-C"), headers=csms.headers) as r:
        statuses = sorted(s["auth_status"] for s in (await r.json())["items"])
    assert statuses == ["Accepted", "ConcurrentTx"]
    await cp.close()


async def test_v201_a_token_already_charging_elsewhere_is_concurrent_tx(http, csms):
    await register(http, csms, id="CS-C")
    cs = await connect(csms, "CS-C", version="2.0.1")
    token = {"id_token": "APP-7", "type": "Central"}
    for tx, evse in (("T-1", 1), ("T-2", 2)):
        answer = await cs.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp="2026-11-27T10:00:00Z",
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": tx},
                evse={"id": evse, "connector_id": 1},
                id_token=token,
            )
        )
        expected = "Accepted" if tx == "T-1" else "ConcurrentTx"
        assert answer.id_token_info["status"] == expected
    authorized = await cs.call(call201.Authorize(id_token=token))
    assert authorized.id_token_info["status"] == "ConcurrentTx"
    await cs.close()


def tx201(event_type: str, seq_no: int, minute: int, **extra: Any) -> Any:
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=f"2026-11-27T10:{minute:02d}:00Z",
        trigger_reason="MeterValuePeriodic" if event_type == "Updated" else "Authorized",
        seq_no=seq_no,
        transaction_info={"transaction_id": "TX-SEQ", **extra.pop("info", {})},
        evse={"id": 1, "connector_id": 1},
        **extra,
    )


async def test_v201_seq_no_holes_are_reported_and_filled_by_late_events(http, csms):
    await register(http, csms, id="CS-S")
    cs = await connect(csms, "CS-S", version="2.0.1")
    await cs.call(
        tx201("Started", 0, 0, meter_value=[register_value(1000, "2026-11-27T10:00:00Z")])
    )
    # Offline: the charger queued seqNo 1..4, and replays them after reconnecting; 2 and 3 are
    # lost on the way, 4 arrives flagged offline.
    await cs.call(tx201("Updated", 1, 5, offline=True))
    await cs.call(tx201("Updated", 4, 20, offline=True))
    await cs.call(
        tx201(
            "Ended",
            5,
            30,
            meter_value=[register_value(9000, "2026-11-27T10:30:00Z")],
            info={"stopped_reason": "Local"},
        )
    )
    session = await session_of(http, csms, "CS-S")
    assert session["missing_seq_nos"] == [2, 3]
    assert session["offline_events"] == 2
    assert (session["status"], session["energy_wh"]) == ("closed", 8000)
    # A late replay fills its hole, and changes nothing else.
    await cs.call(tx201("Updated", 3, 15, offline=True))
    session = await session_of(http, csms, "CS-S")
    assert session["missing_seq_nos"] == [2]
    assert (session["status"], session["energy_wh"], session["offline_events"]) == (
        "closed",
        8000,
        3,
    )
    assert len(await closed_events(csms, 1)) == 1
    await cs.close()


async def test_v201_energy_from_the_samples_when_the_ended_event_has_no_register(http, csms):
    await register(http, csms, id="CS-E")
    cs = await connect(csms, "CS-E", version="2.0.1")
    await cs.call(tx201("Started", 0, 0))  # no meter value at the start
    for seq, (minute, wh) in enumerate(((10, 20_000), (20, 24_000), (30, 31_500)), start=1):
        ts = f"2026-11-27T10:{minute}:00Z"
        await cs.call(tx201("Updated", seq, minute, meter_value=[register_value(wh, ts)]))
    await cs.call(tx201("Ended", 4, 40, info={"stopped_reason": "EVDisconnected"}))
    closed = (await closed_events(csms, 1))[0]
    # The start register was missing: the first sample is the baseline.
    assert (closed["energy_wh"], closed["kwh"]) == (11_500, "11.500")
    session = await session_of(http, csms, "CS-E")
    assert session["energy_source"] == "samples"
    await cs.close()


async def test_v201_interval_samples_are_summed_when_no_register_is_sent(http, csms):
    await register(http, csms, id="CS-I")
    cs = await connect(csms, "CS-I", version="2.0.1")
    await cs.call(tx201("Started", 0, 0))
    interval = "Energy.Active.Import.Interval"
    for seq, wh in enumerate((1200, 800), start=1):
        ts = f"2026-11-27T10:{seq * 10}:00Z"
        await cs.call(
            tx201("Updated", seq, seq * 10, meter_value=[register_value(wh, ts, interval)])
        )
    await cs.call(tx201("Ended", 3, 30))
    closed = (await closed_events(csms, 1))[0]
    assert closed["energy_wh"] == 2000
    assert (await session_of(http, csms, "CS-I"))["energy_source"] == "intervals"
    await cs.close()


async def test_v16_a_meter_reset_mid_session_counts_the_energy_of_both_parts(http, csms):
    """The register went from 50,000 to 0 mid-session (a swapped meter): the stop register is
    below the start, so the energy comes from the readings, each part counted once."""
    await register(http, csms, id="CP-R")
    cp = await connect(csms, "CP-R")
    started = await cp.call(start16(1, "RFID-R", 50_000, 0))
    await cp.call(
        call16.MeterValues(
            connector_id=1,
            transaction_id=started.transaction_id,
            meter_value=[
                {
                    "timestamp": "2026-11-27T10:10:00Z",
                    "sampledValue": [{"value": "53000", "unit": "Wh"}],
                }
            ],
        )
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=2_000,
            timestamp="2026-11-27T10:30:00Z",
            transaction_id=started.transaction_id,
            transaction_data=[
                {
                    "timestamp": "2026-11-27T10:20:00Z",
                    "sampledValue": [{"value": "500", "unit": "Wh"}],
                }
            ],
        )
    )
    closed = (await closed_events(csms, 1))[0]
    assert closed["energy_wh"] == 3000 + 1500  # 50,000 -> 53,000, then 500 -> 2,000
    session = await session_of(http, csms, "CP-R")
    assert (session["energy_source"], session["meter_anomalies"]) == ("samples", 1)
    await cp.close()


async def publish(csms: Csms, name: str, **fields: Any) -> None:
    event = envelope(name, fields)
    await csms.bus.publish(name, event["event_id"], json.dumps(event).encode())


async def wait_for(predicate, what: str) -> None:
    async with asyncio.timeout(5):
        while not await predicate():  # noqa: ASYNC110 - polling the REST API, as a client would
            await asyncio.sleep(0.05)


async def test_a_session_at_an_ev_bay_carries_the_parked_vehicle_and_the_tariff(http, csms):
    await register(http, csms, id="CP-BAY", tariff_id="T-AC-2026")
    bay = {"lot_id": "A1", "level": "0", "slot_ui": "12", "kind": "CAR", "fuel": "EV"}
    await publish(
        csms,
        "VehicleParked",
        **bay,
        regnum="AB123CD",
        charger_id="CP-BAY",
        connector_id=2,
        ts="2026-11-27T09:58:00Z",
    )
    cp = await connect(csms, "CP-BAY")
    # Connector 1 is another bay; connector 2 is where AB123CD stands.
    other = await cp.call(start16(1, "RFID-X", 0, 0))
    mine = await cp.call(start16(2, "RFID-Y", 0, 1))
    for tx in (other.transaction_id, mine.transaction_id):
        await cp.call(
            call16.StopTransaction(
                meter_stop=100, timestamp="2026-11-27T10:05:00Z", transaction_id=tx
            )
        )
    closed = {e["evse_id"]: e for e in await closed_events(csms, 2)}
    assert (closed[1]["regnum"], closed[2]["regnum"]) == (None, "AB123CD")
    assert closed[1]["tariff_id"] == closed[2]["tariff_id"] == "T-AC-2026"
    started = [e for e in csms.events if e["event"] == "ChargingSessionStarted"]
    assert {e["evse_id"]: e["regnum"] for e in started} == {1: None, 2: "AB123CD"}

    # The vehicle left; the next session at that bay is nobody's.
    await publish(
        csms,
        "VehicleLeft",
        **bay,
        regnum="AB123CD",
        charger_id="CP-BAY",
        connector_id=2,
        arrived_at="2026-11-27T09:58:00Z",
        duration_sec=900,
        ts="2026-11-27T10:13:00Z",
    )
    await asyncio.sleep(0.2)
    await cp.call(start16(2, "RFID-Z", 0, 20))
    async with http.get(
        csms.url("/sessions?charger_id=CP-BAY&status=active"), headers=csms.headers
    ) as r:
        assert [s["regnum"] for s in (await r.json())["items"]] == [None]
    await cp.close()


async def test_a_park_event_arriving_after_the_start_still_names_the_vehicle(http, csms):
    await register(http, csms, id="CP-LATE")
    cp = await connect(csms, "CP-LATE")
    started = await cp.call(start16(1, "RFID-L", 0, 0))
    await publish(
        csms,
        "VehicleParked",
        lot_id="A1",
        level="0",
        slot_ui="3",
        kind="CAR",
        fuel="EV",
        regnum="LATE1",
        charger_id="CP-LATE",
        connector_id=1,
        ts="2026-11-27T09:59:00Z",
    )

    async def named() -> bool:
        async with http.get(csms.url("/sessions?charger_id=CP-LATE"), headers=csms.headers) as r:
            return (await r.json())["items"][0]["regnum"] == "LATE1"

    await wait_for(named, "the regnum on the session")
    await cp.call(
        call16.StopTransaction(
            meter_stop=10, timestamp="2026-11-27T10:05:00Z", transaction_id=started.transaction_id
        )
    )
    assert (await closed_events(csms, 1))[0]["regnum"] == "LATE1"
    await cp.close()


async def test_a_left_event_overtaking_its_park_event_leaves_the_bay_free(http, csms):
    bay = {"lot_id": "A1", "level": "0", "slot_ui": "4", "kind": "CAR", "fuel": "EV"}
    where = {"charger_id": "CP-O", "connector_id": 1}
    await register(http, csms, id="CP-O")
    await publish(
        csms,
        "VehicleLeft",
        **bay,
        **where,
        regnum="GONE1",
        arrived_at="2026-11-27T09:00:00Z",
        duration_sec=600,
        ts="2026-11-27T09:10:00Z",
    )
    await publish(csms, "VehicleParked", **bay, **where, regnum="GONE1", ts="2026-11-27T09:00:00Z")
    await asyncio.sleep(0.2)
    cp = await connect(csms, "CP-O")
    await cp.call(start16(1, "RFID-O", 0, 0))
    assert (await session_of(http, csms, "CP-O"))["regnum"] is None
    await cp.close()


async def test_a_charger_that_drops_mid_session_keeps_it_open_and_shown_offline(http, csms):
    await register(http, csms, id="CP-D")
    cp = await connect(csms, "CP-D")
    started = await cp.call(start16(1, "RFID-D", 0, 0))
    session = await session_of(http, csms, "CP-D")
    assert (session["status"], session["charger_connected"]) == ("active", True)
    await cp.close()
    await asyncio.sleep(0.2)
    session = await session_of(http, csms, "CP-D")
    assert (session["status"], session["charger_connected"]) == ("active", False)
    # Back, it reports the end it saw while offline.
    cp = await connect(csms, "CP-D")
    await cp.call(
        call16.StopTransaction(
            meter_stop=4200, timestamp="2026-11-27T10:40:00Z", transaction_id=started.transaction_id
        )
    )
    session = await session_of(http, csms, "CP-D")
    assert (session["status"], session["charger_connected"], session["energy_wh"]) == (
        "closed",
        True,
        4200,
    )
    await cp.close()


async def test_meter_values_reach_the_bus_as_batched_telemetry(http, csms):
    seen: list[dict[str, Any]] = []

    async def record(event: dict[str, Any], attempt: int) -> None:
        seen.append(event)

    await csms.bus.subscribe("telemetry-test", ["MeterTelemetry"], record)
    await register(http, csms, id="CP-TEL")
    cp = await connect(csms, "CP-TEL")
    started = await cp.call(start16(1, "RFID-T", 0, 0))
    await cp.call(
        call16.MeterValues(
            connector_id=1,
            transaction_id=started.transaction_id,
            meter_value=[
                {
                    "timestamp": "2026-11-27T10:10:00Z",
                    "sampledValue": [
                        {"value": "3.2", "unit": "kWh"},
                        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    ],
                }
            ],
        )
    )
    async with asyncio.timeout(5):
        while not seen:  # noqa: ASYNC110 - the relay publishes when it is woken
            await asyncio.sleep(0.02)
    [reading] = [r for e in seen for r in e["readings"] if r["charger_id"] == "CP-TEL"]
    assert (reading["samples"], reading["energy_wh"], reading["power_w"]) == (3, 3200, 11000.0)
    assert reading["transaction_id"] == str(started.transaction_id)
    await cp.close()
