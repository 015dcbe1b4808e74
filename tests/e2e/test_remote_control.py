"""Remote start and stop through REST, against simulated chargers of both OCPP versions over real
sockets: the session is pending at once, linked when the charger starts, closed when it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201

from csms import api
from tests.support.chargers import (
    Charger,
    Csms,
    boot16,
    charger_state,
    closed_events,
    register,
    start_csms,
)
from tests.support.stations import Station201


@pytest.fixture
async def csms(tmp_path) -> AsyncIterator[Csms]:
    platform, csms = await start_csms(tmp_path, env={"CHARGEPARK_OCPP_OFFLINE_AUTH": "accept"})
    # Bounded waits kept short so the "charger never ends it" case takes a second, not 30.
    platform.hosts[0].parts.app[api.REMOTE].stop_wait_sec = 1.0
    yield csms
    await platform.stop()


class Station16(Client16):
    """Accepts remote starts and stops (unless told otherwise) and acts on them, as a charger
    with a cable already plugged in would."""

    answer = "Accepted"
    ends_on_stop = True

    @on("RemoteStartTransaction")
    async def remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        return result16.RemoteStartTransaction(status=self.answer)

    @after("RemoteStartTransaction")
    async def begin(self, id_tag: str, connector_id: int | None = None, **_: Any) -> None:
        if self.answer == "Accepted":
            started = await self.call(
                call16.StartTransaction(
                    connector_id=connector_id or 1,
                    id_tag=id_tag,
                    meter_start=1_000,
                    timestamp="2026-11-27T10:00:00Z",
                )
            )
            self.transaction_id = started.transaction_id

    @on("RemoteStopTransaction")
    async def remote_stop(self, transaction_id: int, **_: Any) -> Any:
        return result16.RemoteStopTransaction(status="Accepted")

    @after("RemoteStopTransaction")
    async def end(self, transaction_id: int, **_: Any) -> None:
        if self.ends_on_stop:
            await self.call(
                call16.StopTransaction(
                    meter_stop=8_500,
                    timestamp="2026-11-27T10:45:00Z",
                    transaction_id=transaction_id,
                    reason="Remote",
                )
            )


async def station(csms: Csms, cp_id: str, cls: type, version: str) -> Charger:
    ws = await websockets.connect(f"{csms.ocpp}/{cp_id}", subprotocols=[f"ocpp{version}"])
    return Charger(cls(cp_id, ws), ws)


async def boot201(charger: Charger) -> None:
    await charger.call(
        call201.BootNotification(
            charging_station={"vendor_name": "ACME", "model": "DC-150"}, reason="PowerUp"
        )
    )


async def session(http, csms: Csms, session_id: str) -> dict[str, Any]:
    async with http.get(csms.url(f"/sessions/{session_id}"), headers=csms.headers) as r:
        assert r.status == 200
        return await r.json()


async def until_status(http, csms: Csms, session_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while (found := await session(http, csms, session_id))["status"] != status:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return found


async def test_v16_remote_start_then_stop_through_rest(http, csms):
    await register(http, csms, id="CP-RS", tariff_id="T-1")
    charger = await station(csms, "CP-RS", Station16, "1.6")
    await charger.call(boot16())
    async with http.post(
        csms.url("/sessions"),
        json={"charger_id": "CP-RS", "connector_id": 2, "id_token": "RFID-R"},
        headers=csms.headers,
    ) as r:
        assert r.status == 201, await r.text()
        started = await r.json()
    assert started["status"] == "pending" and started["command_id"]
    assert r.headers["Location"].endswith(f"/sessions/{started['session_id']}")
    active = await until_status(http, csms, started["session_id"], "active")
    assert (active["evse_id"], active["id_token"], active["tariff_id"]) == (2, "RFID-R", "T-1")
    assert active["transaction_id"] == str(charger.client.transaction_id)
    state = await charger_state(http, csms, "CP-RS")
    assert state["active_session"]["id"] == started["session_id"]
    assert [(s["evse_id"], s["status"]) for s in state["sessions"]] == [(2, "active")]

    async with http.patch(
        csms.url(f"/sessions/{started['session_id']}/stop"), headers=csms.headers
    ) as r:
        assert r.status == 200, await r.text()
        stopped = await r.json()
    assert (stopped["status"], stopped["kwh"], stopped["duration_sec"]) == ("closed", "7.500", 2700)
    state = await charger_state(http, csms, "CP-RS")
    assert (state["active_session"], state["sessions"]) == (None, [])
    closed = await closed_events(csms, 1)
    assert [e["session_id"] for e in closed] == [started["session_id"]]
    # Stopping again answers the same, without a second command.
    async with http.patch(
        csms.url(f"/sessions/{started['session_id']}/stop"), headers=csms.headers
    ) as r:
        assert r.status == 200 and (await r.json())["kwh"] == "7.500"
    async with http.get(csms.url("/chargers/CP-RS/commands"), headers=csms.headers) as r:
        # Besides the smart charging limits read after the boot (csms's own, not the REST's).
        items = (await r.json())["items"]
        actions = [c["action"] for c in items if c["requested_by"] != "csms:charging-profiles"]
    assert sorted(actions) == ["RemoteStartTransaction", "RemoteStopTransaction"]
    await charger.close()


async def test_v201_remote_start_is_linked_by_remote_start_id(http, csms):
    await register(http, csms, id="CS-RS")
    charger = await station(csms, "CS-RS", Station201, "2.0.1")
    await boot201(charger)
    async with http.post(
        csms.url("/sessions"),
        json={"charger_id": "CS-RS", "evse_id": 1, "id_token": "APP-USER-1"},
        headers=csms.headers,
    ) as r:
        assert r.status == 201, await r.text()
        session_id = (await r.json())["session_id"]
    active = await until_status(http, csms, session_id, "active")
    assert active["transaction_id"] == "RS-1"
    async with http.patch(csms.url(f"/sessions/{session_id}/stop"), headers=csms.headers) as r:
        assert r.status == 200, await r.text()
        stopped = await r.json()
    assert (stopped["energy_wh"], stopped["kwh"], stopped["stop_reason"]) == (
        10_000,
        "10.000",
        "Remote",
    )
    await charger.close()


async def test_a_rejected_remote_start_is_409_and_the_session_failed(http, csms):
    await register(http, csms, id="CP-NO")
    charger = await station(csms, "CP-NO", Station16, "1.6")
    charger.client.answer = "Rejected"
    await charger.call(boot16())
    async with http.post(
        csms.url("/sessions"), json={"charger_id": "CP-NO", "id_token": "T"}, headers=csms.headers
    ) as r:
        assert r.status == 409
        problem = await r.json()
    assert r.content_type == "application/problem+json"
    failed = await session(http, csms, problem["session_id"])
    assert (failed["status"], failed["stop_reason"]) == ("failed", "RemoteStartRejected")
    await charger.close()


async def test_remote_start_refusals_before_anything_is_sent(http, csms):
    await register(http, csms, id="CP-OFF")
    cases = [
        ({"charger_id": "CP-OFF", "id_token": "T"}, 409),  # never booted: version unknown
        ({"charger_id": "NOPE", "id_token": "T"}, 404),
        ({"charger_id": "CP-OFF"}, 422),
        ({"charger_id": "CP-OFF", "id_token": "T", "evse_id": 0}, 422),
        ({"charger_id": "CP-OFF", "id_token": "T", "colour": "red"}, 422),
    ]
    for body, status in cases:
        async with http.post(csms.url("/sessions"), json=body, headers=csms.headers) as r:
            assert r.status == status, (body, await r.text())
            assert r.content_type == "application/problem+json"
    # Booted once, then gone: offline.
    charger = await station(csms, "CP-OFF", Station16, "1.6")
    await charger.call(boot16())
    await charger.close()
    await asyncio.sleep(0.1)
    long_tag = {"charger_id": "CP-OFF", "id_token": "X" * 21}  # 1.6 idTag is CiString20
    async with http.post(csms.url("/sessions"), json=long_tag, headers=csms.headers) as r:
        assert r.status == 422
    async with http.post(
        csms.url("/sessions"), json={"charger_id": "CP-OFF", "id_token": "T"}, headers=csms.headers
    ) as r:
        assert r.status == 409
        assert (await session(http, csms, (await r.json())["session_id"]))["status"] == "failed"


async def test_a_stop_the_charger_does_not_finish_in_time_is_202_stopping(http, csms):
    await register(http, csms, id="CP-SLOW")
    charger = await station(csms, "CP-SLOW", Station16, "1.6")
    charger.client.ends_on_stop = False
    await charger.call(boot16())
    async with http.post(
        csms.url("/sessions"), json={"charger_id": "CP-SLOW", "id_token": "T"}, headers=csms.headers
    ) as r:
        session_id = (await r.json())["session_id"]
    await until_status(http, csms, session_id, "active")
    async with http.patch(csms.url(f"/sessions/{session_id}/stop"), headers=csms.headers) as r:
        assert r.status == 202
        assert (await r.json())["status"] == "stopping"
    # The charger ends it later; the session closes then.
    await charger.call(
        call16.StopTransaction(
            meter_stop=1_500,
            timestamp="2026-11-27T10:05:00Z",
            transaction_id=charger.client.transaction_id,
        )
    )
    assert (await session(http, csms, session_id))["energy_wh"] == 500
    await charger.close()


async def test_stopping_a_pending_start_cancels_it_and_unknown_sessions_are_404(http, csms):
    await register(http, csms, id="CP-P")
    charger = await station(csms, "CP-P", Station16, "1.6")
    charger.client.answer = "Accepted"

    async def never_begin(*_: Any, **__: Any) -> None:
        return None

    charger.client.route_map["RemoteStartTransaction"]["_after_action"] = never_begin
    await charger.call(boot16())
    async with http.post(
        csms.url("/sessions"), json={"charger_id": "CP-P", "id_token": "T"}, headers=csms.headers
    ) as r:
        session_id = (await r.json())["session_id"]
    async with http.patch(csms.url(f"/sessions/{session_id}/stop"), headers=csms.headers) as r:
        assert r.status == 200
        cancelled = await r.json()
    assert (cancelled["status"], cancelled["stop_reason"]) == ("failed", "Cancelled")
    async with http.patch(csms.url("/sessions/nope/stop"), headers=csms.headers) as r:
        assert r.status == 404
    await charger.close()
