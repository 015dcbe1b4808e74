"""The simulated charger's smart charging over a real WebSocket, against a stand-in CSMS:
both versions' profile commands, the car obeying the limit (meter values, suspension), the
charger's limits, a charger that rejects profiles or has no smart charging, profiles lost on
a reboot, and 2.0.1's ISO 15118 and external limit messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from simulators.chargepoint import ChargePointSimulator, ChargerConfig, PowerCurve, Vehicle
from simulators.clock import SimClock
from tests.integration.simulators.csms_stub import csms_stub

BAY = PowerCurve.ac(22.08)  # 32 A on three phases at 230 V


def tx16(pid: int, amps: float, level: int = 0, purpose: str = "TxProfile") -> dict[str, Any]:
    return {
        "charging_profile_id": pid,
        "stack_level": level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative" if purpose == "TxProfile" else "Absolute",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "start_schedule": "2020-01-01T00:00:00Z",
            "charging_schedule_period": [{"start_period": 0, "limit": amps}],
        },
    }


def tx201(pid: int, amps: float, purpose: str = "TxProfile", level: int = 0) -> dict[str, Any]:
    return {
        "id": pid,
        "stack_level": level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative" if purpose == "TxProfile" else "Absolute",
        "charging_schedule": [
            {
                "id": pid,
                "charging_rate_unit": "A",
                "start_schedule": "2020-01-01T00:00:00Z",
                "charging_schedule_period": [{"start_period": 0, "limit": amps}],
            }
        ],
    }


def power_of(values: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for v in values:
        found[v["measurand"] + ("/" + v["phase"] if v.get("phase") else "")] = float(v["value"])
    return found


async def test_ocpp16_profiles_limit_the_car() -> None:
    async with csms_stub() as stub:
        config = ChargerConfig("SC-16", stub.url, curve=BAY, meter_interval=60)
        async with ChargePointSimulator(config, clock=SimClock(120)) as cp:
            await cp.wait_booted()
            csms = stub.cp
            conf = await csms.call(
                c16.GetConfiguration(key=["ChargeProfileMaxStackLevel", "SupportedFeatureProfiles"])
            )
            values = {k["key"]: k["value"] for k in conf.configuration_key}
            assert values["ChargeProfileMaxStackLevel"] == "10"
            assert "SmartCharging" in values["SupportedFeatureProfiles"]
            await cp.plug(1, Vehicle(battery_kwh=80, soc=0.2))
            start = await csms.call(
                c16.RemoteStartTransaction(
                    id_tag="T1", connector_id=1, charging_profile=tx16(1, 10)
                )
            )
            assert start.status == "Accepted"
            await cp.wait_status(1, "Charging")
            maxp = await csms.call(
                c16.SetChargingProfile(
                    connector_id=0,
                    cs_charging_profiles=tx16(2, 16, purpose="ChargePointMaxProfile"),
                )
            )
            assert maxp.status == "Accepted"
            too_high = await csms.call(
                c16.SetChargingProfile(
                    connector_id=0, cs_charging_profiles=tx16(3, 16, 11, "ChargePointMaxProfile")
                )
            )
            assert too_high.status == "Rejected"
            comp = await csms.call(
                c16.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="A")
            )
            assert comp.status == "Accepted"
            assert comp.charging_schedule["charging_schedule_period"][0]["limit"] == 10
            since = len(stub.rec.seen)

            def sample() -> dict[str, Any] | None:
                for action, payload in stub.rec.seen[since:]:
                    if action == "MeterValues":
                        return power_of(payload["meter_value"][0]["sampled_value"])
                return None

            await cp.wait_for(lambda: sample() is not None, 10)
            got = sample()
            assert got is not None
            assert got["Power.Active.Import"] == pytest.approx(10 * 230 * 3, abs=5)
            assert got["Current.Import/L1"] == got["Current.Import/L3"] == 10
            lowered = await csms.call(
                c16.SetChargingProfile(connector_id=1, cs_charging_profiles=tx16(1, 4))
            )
            assert lowered.status == "Accepted"
            await cp.wait_status(1, "SuspendedEVSE")
            cleared = await csms.call(c16.ClearChargingProfile(id=1))
            assert cleared.status == "Accepted"
            await cp.wait_status(1, "Charging")
            assert (await csms.call(c16.ClearChargingProfile(id=99))).status == "Unknown"
            # a reboot loses the profiles
            await csms.call(c16.Reset(type="Soft"))
            await cp.wait_event("reboot")
            await cp.wait_booted()
            assert cp.profiles.profiles == {}


async def test_ocpp16_charger_without_smart_charging_and_one_that_rejects() -> None:
    async with csms_stub() as stub:
        config = ChargerConfig("SC-16N", stub.url, smart_charging=False)
        async with ChargePointSimulator(config, clock=SimClock(60)) as cp:
            await cp.wait_booted()
            answer = await stub.cp.call(
                c16.SetChargingProfile(
                    connector_id=0, cs_charging_profiles=tx16(2, 16, purpose="TxDefaultProfile")
                )
            )
            assert answer.status == "NotSupported"
            with pytest.raises(OCPPError):
                await stub.cp.call(
                    c16.GetCompositeSchedule(connector_id=1, duration=60), suppress=False
                )
    async with csms_stub() as stub:
        config = ChargerConfig("SC-16R", stub.url, reject_profiles=True)
        async with ChargePointSimulator(config, clock=SimClock(60)) as cp:
            await cp.wait_booted()
            answer = await stub.cp.call(
                c16.SetChargingProfile(
                    connector_id=0, cs_charging_profiles=tx16(2, 16, purpose="TxDefaultProfile")
                )
            )
            assert answer.status == "Rejected"


async def test_ocpp201_profiles_reports_iso15118_and_external_limit() -> None:
    async with csms_stub() as stub:
        config = ChargerConfig("SC-201", stub.url, ocpp="2.0.1", curve=BAY, external_limit_amps=20)
        async with ChargePointSimulator(config, clock=SimClock(120)) as cp:
            await cp.wait_booted()
            limit = await stub.rec.wait("NotifyChargingLimit")
            assert limit["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 20
            csms = stub.cp
            got = await csms.call(
                c201.GetVariables(
                    get_variable_data=[
                        {
                            "component": {"name": "SmartChargingCtrlr"},
                            "variable": {"name": "ProfileStackLevel"},
                        }
                    ]
                )
            )
            assert got.get_variable_result[0]["attribute_value"] == "10"
            enabled = await csms.call(c201.GetVariables(get_variable_data=[{
                "component": {"name": "SmartChargingCtrlr"},
                "variable": {"name": "Enabled"}}]))  # fmt: skip
            assert enabled.get_variable_result[0]["attribute_value"] == "true"
            default = await csms.call(
                c201.SetChargingProfile(
                    evse_id=0, charging_profile=tx201(5, 16, "TxDefaultProfile")
                )
            )
            assert default.status == "Accepted"
            car = Vehicle(battery_kwh=60, soc=0.3, iso15118=True, energy_amount_wh=20000)
            await cp.plug(1, car)
            assert await cp.authorize(1, "T2") == "Accepted"
            needs = await stub.rec.wait("NotifyEVChargingNeeds")
            assert needs["charging_needs"]["ac_charging_parameters"]["energy_amount"] == 20000
            tx_id = cp.evses[1].tx.transaction_id  # type: ignore[union-attr]
            profile = {**tx201(6, 8), "transaction_id": tx_id}
            answer = await csms.call(c201.SetChargingProfile(evse_id=1, charging_profile=profile))
            assert answer.status == "Accepted"
            await stub.rec.wait("NotifyEVChargingSchedule")
            comp = await csms.call(
                c201.GetCompositeSchedule(duration=300, evse_id=1, charging_rate_unit="W")
            )
            assert comp.schedule["charging_schedule_period"][0]["limit"] == 8 * 230 * 3
            listed = await csms.call(
                c201.GetChargingProfiles(
                    request_id=7, charging_profile={"charging_profile_purpose": "TxDefaultProfile"}
                )
            )
            assert listed.status == "Accepted"
            report = await stub.rec.wait("ReportChargingProfiles", request_id=7)
            assert [p["id"] for p in report["charging_profile"]] == [5]
            none = await csms.call(
                c201.GetChargingProfiles(request_id=8, charging_profile={"stack_level": 9})
            )
            assert none.status == "NoProfiles"
            await cp.wait_for(lambda: 0 < cp.evses[1].power_w <= 8 * 230 * 3 + 1, 10)
            cp.set_external_limit(None)
            await stub.rec.wait("ClearedChargingLimit")
            cleared = await csms.call(
                c201.ClearChargingProfile(
                    charging_profile_criteria={"charging_profile_purpose": "TxDefaultProfile"}
                )
            )
            assert cleared.status == "Accepted"
            await cp.stop_transaction(1)
            assert cp.profiles.select(purpose="TxProfile") == []
            await asyncio.sleep(0)


async def test_ocpp201_start_with_a_profile_no_smart_charging_and_kept_profiles() -> None:
    async with csms_stub() as stub:
        config = ChargerConfig("SC-201K", stub.url, ocpp="2.0.1", curve=BAY, keep_profiles=True)
        async with ChargePointSimulator(config, clock=SimClock(120)) as cp:
            await cp.wait_booted()
            await cp.plug(1, Vehicle(battery_kwh=80, soc=0.2, phases=1))
            start = await stub.cp.call(c201.RequestStartTransaction(
                id_token={"id_token": "T3", "type": "Central"}, remote_start_id=4, evse_id=1,
                charging_profile=tx201(8, 12)))  # fmt: skip
            assert start.status == "Accepted"
            await cp.wait_for(lambda: 0 < cp.evses[1].power_w <= 12 * 230 + 1, 10)
            assert cp.evses[1].currents() == [("L1", 12.0)]
            wrong = await stub.cp.call(c201.RequestStartTransaction(
                id_token={"id_token": "T4", "type": "Central"}, remote_start_id=5, evse_id=1,
                charging_profile=tx201(9, 12, "TxDefaultProfile")))  # fmt: skip
            assert wrong.status == "Rejected"
            station_max = tx201(10, 20, "ChargingStationMaxProfile")
            kept = await stub.cp.call(
                c201.SetChargingProfile(evse_id=0, charging_profile=station_max)
            )
            assert kept.status == "Accepted"
            await stub.cp.call(c201.Reset(type="Immediate"))
            await cp.wait_event("reboot")
            await cp.wait_booted()
            assert list(cp.profiles.profiles) == [10]  # kept; the TxProfile went with its tx
    async with csms_stub() as stub:
        config = ChargerConfig("SC-201N", stub.url, ocpp="2.0.1", smart_charging=False)
        async with ChargePointSimulator(config, clock=SimClock(60)) as cp:
            await cp.wait_booted()
            with pytest.raises(OCPPError):
                await stub.cp.call(
                    c201.SetChargingProfile(
                        evse_id=0, charging_profile=tx201(1, 16, "TxDefaultProfile")
                    ),
                    suppress=False,
                )
