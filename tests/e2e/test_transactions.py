"""Transactions over real OCPP sockets: sessions open and close once, as chargers behave."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.support.chargers import boot16, closed_events, connect, register


async def test_v16_charge_then_stop_closes_one_session(http, csms):
    await register(http, csms, id="CP-1")
    cp = await connect(csms, "CP-1")
    await cp.call(boot16())
    start = call16.StartTransaction(
        connector_id=1, id_tag="RFID-1", meter_start=0, timestamp="2026-11-27T10:00:00Z"
    )
    started = await cp.call(start)
    assert isinstance(started.transaction_id, int)
    # The answer was lost and the charger sends the same start again: same transaction.
    assert (await cp.call(start)).transaction_id == started.transaction_id
    stop = call16.StopTransaction(
        meter_stop=7500,
        timestamp="2026-11-27T10:31:00Z",
        transaction_id=started.transaction_id,
        reason="EVDisconnected",
    )
    await cp.call(stop)
    await cp.call(stop)  # retransmitted: no second close
    closed = await closed_events(csms, 1)
    assert len(closed) == 1
    expected = {
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "energy_wh": 7500,
        "kwh": "7.500",
        "duration_sec": 1860,
        "reason": "EVDisconnected",
        "id_token": "RFID-1",
    }
    assert {k: closed[0][k] for k in expected} == expected
    starts = [e for e in csms.events if e["event"] == "ChargingSessionStarted"]
    assert len(starts) == 1 and starts[0]["session_id"] == closed[0]["session_id"]
    await cp.close()


async def test_v16_a_second_start_gets_a_new_transaction_id(http, csms):
    await register(http, csms, id="CP-2")
    cp = await connect(csms, "CP-2")
    ids = set()
    for minute in (0, 1):
        answer = await cp.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="RFID-1",
                meter_start=minute,
                timestamp=f"2026-11-27T10:0{minute}:00Z",
            )
        )
        ids.add(answer.transaction_id)
    assert len(ids) == 2
    await cp.close()


async def test_v16_a_stop_for_an_unknown_transaction_is_still_answered(http, csms):
    await register(http, csms, id="CP-3")
    cp = await connect(csms, "CP-3")
    answer = await cp.call(
        call16.StopTransaction(
            meter_stop=10, timestamp="2026-11-27T10:00:00Z", transaction_id=999_999
        )
    )
    assert answer is not None
    await cp.close()


def energy(wh_or_kwh: float, unit: str = "Wh") -> list[dict[str, Any]]:
    return [
        {
            "timestamp": "2026-11-27T10:00:00Z",
            "sampled_value": [
                {
                    "value": wh_or_kwh,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": unit},
                }
            ],
        }
    ]


def tx_event(
    event_type: str, seq_no: int, ts: str, meter: list[dict[str, Any]] | None, **info: Any
) -> Any:
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=ts,
        trigger_reason="Authorized",
        seq_no=seq_no,
        transaction_info={"transaction_id": "TX-201", **info},
        meter_value=meter,
        evse={"id": 2, "connector_id": 1},
        id_token={"id_token": "RFID-9", "type": "ISO14443"},
    )


async def test_v201_started_updated_ended_yields_the_energy_between_registers(http, csms):
    await register(http, csms, id="CS-1")
    cs = await connect(csms, "CS-1", version="2.0.1")
    await cs.call(tx_event("Started", 0, "2026-11-27T10:00:00Z", energy(1000)))
    await cs.call(tx_event("Updated", 1, "2026-11-27T10:15:00Z", energy(8000)))
    ended = tx_event(
        "Ended", 2, "2026-11-27T10:31:00Z", energy(15.3, "kWh"), stopped_reason="EVDisconnected"
    )
    await cs.call(ended)
    await cs.call(ended)
    closed = await closed_events(csms, 1)
    assert len(closed) == 1
    assert (closed[0]["energy_wh"], closed[0]["kwh"], closed[0]["duration_sec"]) == (
        14_300,
        "14.300",
        1860,
    )
    assert (closed[0]["evse_id"], closed[0]["reason"]) == (2, "EVDisconnected")
    await cs.close()


async def test_v201_an_ended_event_for_an_unseen_transaction_opens_and_closes_it(http, csms):
    await register(http, csms, id="CS-2")
    cs = await connect(csms, "CS-2", version="2.0.1")
    await cs.call(tx_event("Ended", 5, "2026-11-27T11:00:00Z", energy(500)))
    closed = await closed_events(csms, 1)
    assert len(closed) == 1 and closed[0]["charger_id"] == "CS-2"
    await cs.close()


async def test_sessions_are_listed_and_read_over_rest(http, csms):
    await register(http, csms, id="CP-Q")
    cp = await connect(csms, "CP-Q")
    started = await cp.call(
        call16.StartTransaction(
            connector_id=2, id_tag="RFID-Q", meter_start=100, timestamp="2026-11-27T10:00:00Z"
        )
    )
    async with http.get(
        csms.url("/sessions?charger_id=CP-Q&status=active"), headers=csms.headers
    ) as r:
        page = await r.json()
    assert page["total"] == 1
    session = page["items"][0]
    assert (session["transaction_id"], session["evse_id"], session["energy_wh"]) == (
        str(started.transaction_id),
        2,
        None,
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=1100, timestamp="2026-11-27T10:10:00Z", transaction_id=started.transaction_id
        )
    )
    async with http.get(csms.url(f"/sessions/{session['id']}"), headers=csms.headers) as r:
        closed = await r.json()
    assert (closed["status"], closed["energy_wh"], closed["kwh"], closed["duration_sec"]) == (
        "closed",
        1000,
        "1.000",
        600,
    )
    for bad in ("status=done", "from=yesterday", "limit=0"):
        async with http.get(csms.url(f"/sessions?{bad}"), headers=csms.headers) as r:
            assert r.status == 422, bad
    async with http.get(csms.url("/sessions/nope"), headers=csms.headers) as r:
        assert r.status == 404
    await cp.close()


async def test_every_meter_value_is_stored(http, csms):
    from sqlalchemy import select

    from csms.adapters.tables import meter_samples

    await register(http, csms, id="CP-MV")
    cp = await connect(csms, "CP-MV")
    await cp.call(
        call16.MeterValues(
            connector_id=1,
            transaction_id=7,
            meter_value=[
                {
                    "timestamp": "2026-11-27T10:05:00Z",
                    "sampled_value": [
                        {
                            "value": "1234",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {
                            "value": "16.2",
                            "measurand": "Current.Import",
                            "unit": "A",
                            "phase": "L1",
                        },
                        {"value": "231", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                    ],
                }
            ],
        )
    )
    await register(http, csms, id="CS-MV")
    cs = await connect(csms, "CS-MV", version="2.0.1")
    await cs.call(
        call201.MeterValues(
            evse_id=3,
            meter_value=[
                {
                    "timestamp": "2026-11-27T10:06:00Z",
                    "sampled_value": [
                        {
                            "value": 7.5,
                            "measurand": "Power.Active.Import",
                            "unit_of_measure": {"unit": "W", "multiplier": 3},
                        }
                    ],
                }
            ],
        )
    )
    db = csms.platform.hosts[0].db
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(meter_samples).order_by(meter_samples.c.id))).all()
    assert [(r.charger_id, r.evse_id, r.measurand, r.phase, r.value) for r in rows] == [
        ("CP-MV", 1, "Energy.Active.Import.Register", None, "1234"),
        ("CP-MV", 1, "Current.Import", "L1", "16.2"),
        ("CP-MV", 1, "Voltage", "L1-N", "231"),
        ("CS-MV", 3, "Power.Active.Import", None, "7.5"),
    ]
    assert rows[0].transaction_id == "7" and rows[3].multiplier == 3
    await cp.close()
    await cs.close()


async def test_notifications_are_kept_and_data_transfer_is_answered(http, csms):
    from sqlalchemy import select

    from csms.adapters.tables import charger_notifications

    await register(http, csms, id="CS-N")
    cs = await connect(csms, "CS-N", version="2.0.1")
    await cs.call(
        call201.SecurityEventNotification(
            type="TamperDetectionActivated", timestamp="2026-11-27T10:00:00Z"
        )
    )
    await cs.call(call201.FirmwareStatusNotification(status="Installed"))
    answer = await cs.call(call201.DataTransfer(vendor_id="com.example", data="x"))
    assert answer.status == "UnknownVendorId"
    db = csms.platform.hosts[0].db
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(select(charger_notifications).order_by(charger_notifications.c.id))
        ).all()
    assert [r.action for r in rows] == [
        "SecurityEventNotification",
        "FirmwareStatusNotification",
        "DataTransfer",
    ]
    assert '"type":"TamperDetectionActivated"' in rows[0].payload
    await cs.close()


async def test_v16_security_whitepaper_notifications_are_kept(http, csms):
    from sqlalchemy import select

    from csms.adapters.tables import charger_notifications

    await register(http, csms, id="CP-SEC")
    cp = await connect(csms, "CP-SEC")
    await cp.call(
        call16.SecurityEventNotification(
            type="InvalidFirmwareSignature",
            timestamp="2026-11-27T10:00:00Z",
            tech_info="signature of 1.2.4 does not verify",
        )
    )
    await cp.call(call16.LogStatusNotification(status="Uploaded", request_id=7))
    await cp.call(call16.SignedFirmwareStatusNotification(status="Installed", request_id=8))
    db = csms.platform.hosts[0].db
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(charger_notifications)
                .where(charger_notifications.c.charger_id == "CP-SEC")
                .order_by(charger_notifications.c.id)
            )
        ).all()
    assert [r.action for r in rows] == [
        "SecurityEventNotification",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    ]
    assert '"request_id":7' in rows[1].payload
    await cp.close()
