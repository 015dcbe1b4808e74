"""The energy manager over real WebSockets: three 32 A chargers behind a connection that fits
two at full power. The third start lowers the others before it is raised, the sum of the
station maximum limits in force never exceeds the site's limit, and a charger that rejects
profiles is counted at its rating."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from ocpp.v16 import call as call16

from tests.support.chargers import Charger, Csms, register, start_csms
from tests.support.smart_stations import Smart16, until

LIMIT = 64.0  # A per phase: two chargers at their full 32 A
STATION = "ChargePointMaxProfile"
ORDER: list[tuple[str, float, str]] = []  # (charger, limit, answer), as the CALLs arrived


class Ordered(Smart16):
    """Keeps every station maximum CALL in one list across chargers, in arrival order."""

    async def route_message(self, raw: str) -> None:
        frame = json.loads(raw)
        if frame[0] == 2 and frame[2] == "SetChargingProfile":
            profile = frame[3]["csChargingProfiles"]
            if profile["chargingProfilePurpose"] == STATION:
                limit = profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
                ORDER.append((self.id, float(limit), self.answer))
        await super().route_message(raw)


@pytest.fixture
async def fast_csms(tmp_path) -> AsyncIterator[Csms]:
    platform, csms = await start_csms(
        tmp_path, env={"CHARGEPARK_ENERGY_TICK": "0.2", "CHARGEPARK_OCPP_OFFLINE_AUTH": "accept"}
    )
    yield csms
    await platform.stop()


async def _charger(http, csms: Csms, cp_id: str, answer: str = "Accepted") -> Any:
    await register(http, csms, id=cp_id)
    return await _connect(csms, cp_id, answer)


async def _connect(csms: Csms, cp_id: str, answer: str = "Accepted") -> Any:
    ws = await websockets.connect(f"{csms.ocpp}/{cp_id}", subprotocols=["ocpp1.6"])
    client = Ordered(cp_id, ws)
    client.setup()
    client.answer = answer
    charger = Charger(client, ws)
    await client.boot()
    return charger


async def _start(charger: Any) -> None:
    await charger.call(
        call16.StartTransaction(
            connector_id=1, id_tag="RFID-1", meter_start=0, timestamp="2026-12-07T18:00:00Z"
        )
    )


def _in_force() -> dict[str, float]:
    """Replays the CALLs: after each, the sum of accepted station maxima stays in the limit."""
    held: dict[str, float] = {}
    for charger_id, limit, answer in ORDER:
        if answer == "Accepted":
            held[charger_id] = limit
        assert sum(held.values()) <= LIMIT + 1e-6, ORDER
    return held


async def test_a_third_start_lowers_before_raising_and_a_refusing_charger_counts_in_full(
    http, fast_csms
):
    csms = fast_csms
    ORDER.clear()
    a, b, c = [await _charger(http, csms, cp) for cp in ("E-A", "E-B", "E-C")]
    site = {"phases": 3, "voltage": 230, "limit_amps": LIMIT, "chargers": ["E-A", "E-B", "E-C"]}
    async with http.put(csms.url("/sites/LOT-E"), json=site, headers=csms.headers) as r:
        assert r.status == 201, await r.text()
    await _start(a)
    await _start(b)
    await until(lambda: _in_force().get("E-A", 0) > 30 and _in_force().get("E-B", 0) > 30)
    await until(lambda: "E-C" in _in_force())  # idle: it holds 0 A before its car starts
    assert _in_force()["E-C"] == 0.0
    before = len(ORDER)

    await _start(c)
    await until(lambda: _in_force().get("E-C", 0) > 20)
    change = ORDER[before:]
    c_raised = next(i for i, (cp, limit, _) in enumerate(change) if cp == "E-C" and limit > 0)
    lowered = {cp for cp, _, _ in change[:c_raised]}
    assert lowered == {"E-A", "E-B"}, change  # both lowered before the third was raised
    assert sum(_in_force().values()) <= LIMIT

    # A fourth charger that rejects every profile: counted at its 32 A, the others share 32 A.
    d = await _charger(http, csms, "E-D", answer="Rejected")
    site["chargers"] = ["E-A", "E-B", "E-C", "E-D"]
    async with http.put(csms.url("/sites/LOT-E"), json=site, headers=csms.headers) as r:
        assert r.status == 200
    await _start(d)
    await until(lambda: sum(v for k, v in _in_force().items() if k != "E-D") <= LIMIT - 32)
    async with http.get(csms.url("/sites/LOT-E"), headers=csms.headers) as r:
        view = await r.json()
    chargers = {ch["charger_id"]: ch for ch in view["chargers"]}
    assert chargers["E-D"]["controlled"] is False
    assert chargers["E-D"]["evses"][0]["limit_amps"] == 32

    # A reconnects (it may have lost its profiles): its station maximum goes out again.
    await a.close()
    sent = len(ORDER)
    a = await _connect(csms, "E-A")
    await until(lambda: any(cp == "E-A" for cp, _, _ in ORDER[sent:]))
    assert sum(_in_force().values()) <= LIMIT
    for charger in (a, b, c, d):
        await charger.close()
