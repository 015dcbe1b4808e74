"""Smart charging over real WebSockets, both OCPP versions: limits read after boot, operator
profiles over REST (sent, refused before sending, rejected, cleared, sent again after a reboot
or a reconnect that lost them), the composite schedule, a remote start with a profile, and the
2.0.1 block K reports."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call as call201

from csms.api import GATEWAY, SMART_CHARGING
from csms.domain.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
    SmartChargingLimits,
)
from csms.ports.gateway import StartCharging
from tests.e2e.test_commands import command_log, wait_connected
from tests.support.chargers import register
from tests.support.smart_stations import NOW, connect_smart, until

STATION_MAX = {
    "stack_level": 1,
    "purpose": "ChargingStationMaxProfile",
    "kind": "Absolute",
    "unit": "A",
    "start_schedule": "2026-12-07T00:00:00Z",
    "periods": [{"start_period": 0, "limit": 32.05, "number_phases": 3}],
}
SPELLING = {"1.6": "ChargePointMaxProfile", "2.0.1": "ChargingStationMaxProfile"}


def app(csms: Any) -> Any:
    return csms.platform.hosts[0].parts.app


async def post(http, csms, cp_id: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    url = csms.url(f"/chargers/{cp_id}/charging-profiles")
    async with http.post(url, json=body, headers=csms.headers, **kwargs) as r:
        return r.status, await r.json()


async def listed(http, csms, cp_id: str) -> list[dict[str, Any]]:
    url = csms.url(f"/chargers/{cp_id}/charging-profiles")
    async with http.get(url, headers=csms.headers) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["items"]


async def limits(csms, cp_id: str) -> SmartChargingLimits | None:
    return await app(csms)[SMART_CHARGING].store.limits(cp_id)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_limits_read_at_boot_bound_the_profiles_sent_cleared_and_composite(
    http, csms, version
):
    await register(http, csms, id="CP-S")
    charger = await connect_smart(csms, "CP-S", version)
    assert (await charger.client.boot()).status == "Accepted"
    read = await until(lambda: limits(csms, "CP-S"))
    if version == "1.6":
        assert read == SmartChargingLimits(True, 3, (RateUnit.AMPS,), 4, 5)
    else:
        assert read == SmartChargingLimits(True, 2, (RateUnit.AMPS, RateUnit.WATTS), 8, None)
    # Beyond what the charger said it holds: refused before anything is sent.
    too_high = {**STATION_MAX, "stack_level": 4}
    status, problem = await post(http, csms, "CP-S", too_high)
    assert status == 422 and "above this charger's maximum" in problem["detail"]
    many = {**STATION_MAX, "periods": [{"start_period": i * 60, "limit": 16} for i in range(9)]}
    status, problem = await post(http, csms, "CP-S", many)
    assert status == 422 and "periods" in problem["detail"]
    if version == "1.6":
        status, problem = await post(http, csms, "CP-S", {**STATION_MAX, "unit": "W"})
        assert status == 422 and "unit W" in problem["detail"]
    assert charger.client.sent("SetChargingProfile") == []

    status, stored = await post(http, csms, "CP-S", STATION_MAX)
    assert status == 201 and stored["delivery"] == "accepted", stored
    profile_id = stored["profile_id"]
    assert profile_id >= 1_000_000 and stored["periods"][0]["limit"] == 32.05
    [sent] = charger.client.sent("SetChargingProfile")
    if version == "1.6":
        assert sent["connectorId"] == 0
        profile = sent["csChargingProfiles"]
        assert profile["chargingProfileId"] == profile_id
        assert profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 32.0
    else:
        assert sent["evseId"] == 0
        profile = sent["chargingProfile"]
        assert profile["id"] == profile_id and profile["chargingSchedule"][0]["id"] == profile_id
    assert profile["chargingProfilePurpose"] == SPELLING[version]
    assert [p["delivery"] for p in await listed(http, csms, "CP-S")] == ["accepted"]

    url = csms.url("/chargers/CP-S/composite-schedule")
    async with http.get(url, params={"evse": 1, "duration": 600}, headers=csms.headers) as r:
        assert r.status == 200, await r.text()
        schedule = await r.json()
    assert schedule["evse_id"] == 1 and schedule["start"] == NOW
    assert schedule["unit"] == ("A" if version == "1.6" else "W") and schedule["periods"][0][
        "limit"
    ] in (16.0, 7360.0)
    async with http.get(url, params={"duration": "0"}, headers=csms.headers) as r:
        assert r.status == 422 and r.content_type == "application/problem+json"

    url = csms.url(f"/chargers/CP-S/charging-profiles/{profile_id}")
    async with http.delete(url, headers=csms.headers) as r:
        assert r.status == 200
        assert (await r.json())["cleared"]["response"] == {"status": "Accepted"}
    assert charger.client.held == {} and await listed(http, csms, "CP-S") == []
    async with http.delete(url, headers=csms.headers) as r:
        assert r.status == 404

    # A remote start may carry the transaction's profile.
    tx = ChargingProfile(
        profile_id=7,
        stack_level=0,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        unit=RateUnit.AMPS,
        periods=(SchedulePeriod(0, 10.0),),
    )
    outcome = await app(csms)[GATEWAY].start_charging(
        "CP-S", version, StartCharging("TAG-1", 9, 1, charging_profile=tx)
    )
    assert outcome.accepted
    start = charger.client.received[-1][1]
    assert start["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"

    actions = [c["action"] for c in (await command_log(http, csms, "CP-S", limit=50))["items"]]
    read_action = "GetConfiguration" if version == "1.6" else "GetVariables"
    for action in (
        read_action,
        "SetChargingProfile",
        "GetCompositeSchedule",
        "ClearChargingProfile",
    ):
        assert action in actions
    await charger.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_bad_bodies_offline_chargers_and_a_charger_that_rejects(http, csms, version):
    await register(http, csms, id="CP-R")
    bad = [
        {**STATION_MAX, "periods": []},
        {**STATION_MAX, "purpose": "ChargePointMaxProfile"},
        {**STATION_MAX, "kind": "Recurring"},  # no recurrency
        {**STATION_MAX, "periods": [{"start_period": 5, "limit": 16}]},
        {**STATION_MAX, "evse_id": 1},  # a station maximum on an EVSE
        {**STATION_MAX, "valid_from": "yesterday"},
        {**STATION_MAX, "surprise": 1},
        {k: v for k, v in STATION_MAX.items() if k != "unit"},
    ]
    for body in bad:
        status, problem = await post(http, csms, "CP-R", body)
        assert status == 422, (body, problem)
        assert problem["status"] == 422 and problem["detail"]
    status, _ = await post(http, csms, "CP-NONE", STATION_MAX)
    assert status == 404
    url = csms.url("/chargers/CP-R/charging-profiles")
    async with http.post(url, data="{", headers=csms.headers) as r:
        assert r.status == 415 and r.content_type == "application/problem+json"
    async with http.get(csms.url("/chargers/CP-R/composite-schedule"), headers=csms.headers) as r:
        assert r.status == 409 and (await r.json())["type"].endswith("charger-offline")
    async with http.get(
        csms.url("/chargers/CP-NONE/composite-schedule"), headers=csms.headers
    ) as r:
        assert r.status == 404
    async with http.get(csms.url("/chargers/CP-NONE/charging-profiles"), headers=csms.headers) as r:
        assert r.status == 404

    # Stored while the charger is away: pending; at its boot it is sent, and rejected.
    status, stored = await post(http, csms, "CP-R", STATION_MAX)
    assert status == 201 and stored["delivery"] == "pending"
    charger = await connect_smart(csms, "CP-R", version, answer="Rejected")
    await charger.client.boot()
    await until(lambda: charger.client.sent("SetChargingProfile"))
    [profile] = await until(lambda: _with_delivery(http, csms, "CP-R", "rejected"))
    assert "Rejected" in profile["detail"]
    # Rejected once is not sent again on the next boot: the operator decides.
    await app(csms)[SMART_CHARGING].idle()
    await charger.client.boot()
    read = "GetConfiguration" if version == "1.6" else "GetVariables"
    await until(lambda: len(charger.client.sent(read)) == 2)
    await app(csms)[SMART_CHARGING].idle()
    assert len(charger.client.sent("SetChargingProfile")) == 1
    await charger.close()


async def _with_delivery(http, csms, cp_id: str, delivery: str) -> list[dict[str, Any]]:
    items = await listed(http, csms, cp_id)
    return items if items and all(p["delivery"] == delivery for p in items) else []


async def test_a_16_charger_gets_its_profiles_again_after_every_boot(http, csms):
    await register(http, csms, id="CP-B")
    charger = await connect_smart(csms, "CP-B", "1.6")
    await charger.client.boot()
    status, _ = await post(http, csms, "CP-B", STATION_MAX)
    assert status == 201 and len(charger.client.sent("SetChargingProfile")) == 1
    await charger.close()
    charger = await connect_smart(csms, "CP-B", "1.6")  # rebooted: it lost them
    await charger.client.boot()
    await until(lambda: charger.client.held)
    log = (await command_log(http, csms, "CP-B"))["items"]
    resent = [c for c in log if c["action"] == "SetChargingProfile"]
    assert len(resent) == 2 and resent[0]["requested_by"] == "csms:charging-profiles"
    await charger.close()


async def test_a_201_charger_that_reconnects_without_its_profiles_gets_them_again(http, csms):
    await register(http, csms, id="CS-L")
    told: list[tuple[str, str, bool]] = []

    async def listener(charger_id: str, version: str, booted: bool) -> None:
        told.append((charger_id, version, booted))

    app(csms)[SMART_CHARGING].add_listener(listener)
    charger = await connect_smart(csms, "CS-L", "2.0.1")
    await charger.client.boot()
    status, stored = await post(http, csms, "CS-L", STATION_MAX)
    assert status == 201 and stored["delivery"] == "accepted"
    await app(csms)[SMART_CHARGING].idle()  # the boot's setup is over before it goes away
    await charger.close()

    # Back without a reboot, still holding it: it says so (ReportChargingProfiles): not sent.
    held = charger.client.held
    charger = await connect_smart(csms, "CS-L", "2.0.1", held=held)
    await wait_connected(csms, "CS-L")
    await charger.client.call(call201.Heartbeat())
    await until(lambda: charger.client.sent("GetChargingProfiles"))
    store = app(csms)[SMART_CHARGING].store
    installed = await until(lambda: store.installed("CS-L"))
    assert [p.profile_id for p in installed] == [stored["profile_id"]]
    await app(csms)[SMART_CHARGING].idle()
    assert charger.client.sent("SetChargingProfile") == []
    await charger.close()

    # Back having lost it (NoProfiles): sent again.
    charger = await connect_smart(csms, "CS-L", "2.0.1")
    await wait_connected(csms, "CS-L")
    await charger.client.call(call201.Heartbeat())
    await until(lambda: charger.client.held)
    assert [a for a, _ in charger.client.received] == ["GetChargingProfiles", "SetChargingProfile"]
    assert await store.installed("CS-L") == []
    await app(csms)[SMART_CHARGING].idle()
    # Told after each setup: the boot's, and each reconnect's (in whichever order they ended).
    assert sorted(told) == [("CS-L", "2.0.1", False)] * 2 + [("CS-L", "2.0.1", True)]
    await charger.close()


async def test_the_201_reports_are_kept_for_the_energy_manager(http, csms):
    await register(http, csms, id="CS-K")
    charger = await connect_smart(csms, "CS-K", "2.0.1")
    call = charger.client.call
    schedule = {
        "id": 1,
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 20.0}],
    }
    await call(
        call201.NotifyChargingLimit(
            charging_limit={"charging_limit_source": "SO", "is_grid_critical": True},
            evse_id=1,
            charging_schedule=[schedule],
        )
    )
    await call(call201.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"}))
    reads = app(csms)[SMART_CHARGING].store
    found = await reads.external_limits("CS-K")
    assert [(x.evse_id, x.source, x.limit, x.grid_critical) for x in found] == [
        (0, "EMS", None, None),
        (1, "SO", 20.0, True),
    ]
    await call(call201.ClearedChargingLimit(charging_limit_source="SO", evse_id=1))
    assert [x.source for x in await reads.external_limits("CS-K")] == ["EMS"]

    result = await call(
        call201.NotifyEVChargingNeeds(
            evse_id=1,
            charging_needs={
                "requested_energy_transfer": "AC_three_phase",
                "departure_time": "2026-12-07T18:00:00Z",
                "ac_charging_parameters": {
                    "energy_amount": 30_000,
                    "ev_min_current": 6,
                    "ev_max_current": 32,
                    "ev_max_voltage": 400,
                },
            },
        )
    )
    assert result.status == "Accepted"
    needs = await reads.ev_needs("CS-K", 1)
    assert (needs.energy_wh, needs.max_current, needs.min_current) == (30_000, 32, 6)
    assert needs.departure.isoformat() == "2026-12-07T18:00:00+00:00"
    assert needs.requested_transfer == "AC_three_phase"
    result = await call(
        call201.NotifyEVChargingSchedule(time_base=NOW, evse_id=1, charging_schedule=schedule)
    )
    assert result.status == "Accepted" and await reads.ev_needs("CS-K", 2) is None

    await call(
        call201.NotifyReport(
            request_id=1,
            generated_at=NOW,
            seq_no=0,
            report_data=[
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                    "variable_attribute": [{"type": "Actual", "value": "0"}],
                    "variable_characteristics": {
                        "data_type": "integer",
                        "max_limit": 12,
                        "supports_monitoring": False,
                    },
                },
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "RateUnit"},
                    "variable_attribute": [{"value": "W"}],
                },
            ],
        )
    )
    assert await reads.limits("CS-K") == SmartChargingLimits(
        True, None, (RateUnit.WATTS,), None, 12
    )
    await charger.close()
