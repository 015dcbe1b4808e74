"""The simulator's smart charging driven through csms's command API, as an operator would: a
charger-wide default profile lowers the car's power, the composite schedule shows it,
clearing it restores the car, a charger that rejects profiles says so. Skipped while csms's
command catalog does not send the profile commands (tests/integration/simulators covers the
simulator's side against a stand-in CSMS)."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.chargepoint import PowerCurve, Vehicle
from tests.support.sim_site import Site

pytestmark = pytest.mark.asyncio(loop_scope="module")


def default_profile(version: str, amps: float) -> dict[str, Any]:
    schedule = {
        "chargingRateUnit": "A",
        "startSchedule": "2020-01-01T00:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
    }
    common = {
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
    }
    if version == "1.6":
        profile16 = {"chargingProfileId": 11, **common, "chargingSchedule": schedule}
        return {"connectorId": 0, "csChargingProfiles": profile16}
    profile201 = {"id": 11, **common, "chargingSchedule": [{"id": 1, **schedule}]}
    return {"evseId": 0, "chargingProfile": profile201}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_profiles_through_the_command_api(site: Site, version: str) -> None:
    from csms.ocpp.gateway.catalog import COMMANDS

    if "SetChargingProfile" not in COMMANDS[version]:
        pytest.skip("csms's command catalog does not send charging profiles yet")
    cp_id = f"SIM-SC-{version}"
    await site.client.post("/charging/chargers", {"id": cp_id})
    token = f"SCCARD{version[0]}"
    customer = await site.client.post("/accounts/customers", {"name": "Smart Tester"})
    await site.client.post(
        f"/accounts/customers/{customer['id']}/id-tokens", {"id_token": token, "type": "ISO14443"}
    )
    async with site.charger(cp_id, version, curve=PowerCurve.ac(22.08)) as cp:
        await cp.wait_booted(10)
        await cp.plug(1, Vehicle(100, 0.1))
        await site.client.post(
            "/charging/sessions", {"charger_id": cp_id, "evse_id": 1, "id_token": token}
        )
        await cp.wait_for(lambda: cp.evses[1].tx is not None, 10)
        answer = await site.command(cp_id, "SetChargingProfile", default_profile(version, 10))
        assert answer["response"]["status"] == "Accepted", answer
        await cp.wait_for(lambda: 0 < cp.evses[1].power_w <= 10 * 690 + 1, 10)
        evse = {"connectorId": 1} if version == "1.6" else {"evseId": 1}
        composite = await site.command(
            cp_id, "GetCompositeSchedule", {**evse, "duration": 600, "chargingRateUnit": "A"}
        )
        assert composite["response"]["status"] == "Accepted", composite
        clear = {"id": 11} if version == "1.6" else {"chargingProfileId": 11}
        cleared = await site.command(cp_id, "ClearChargingProfile", clear)
        assert cleared["response"]["status"] == "Accepted"
        await cp.wait_for(lambda: cp.evses[1].power_w > 20_000, 10)
    rejecting = f"SIM-SCR-{version}"
    await site.client.post("/charging/chargers", {"id": rejecting})
    async with site.charger(rejecting, version, reject_profiles=True) as cp:
        await cp.wait_booted(10)
        answer = await site.command(rejecting, "SetChargingProfile", default_profile(version, 10))
        assert answer["response"]["status"] == "Rejected"
