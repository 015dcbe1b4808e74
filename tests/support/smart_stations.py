"""Chargers that speak smart charging, for the tests over real WebSockets: each keeps the
profiles it is sent (or rejects them), answers the limit reads and the composite schedule, and
records every CALL csms sends as it came off the wire."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.support.chargers import Charger, Csms

NOW = "2026-12-07T10:00:00Z"


class _Recording:
    """Mixed in first: keeps each CALL csms sends, and what the charger holds."""

    received: list[tuple[str, dict[str, Any]]]
    held: dict[int, dict[str, Any]]  # profile id -> the profile as sent (wire spelling)
    answer = "Accepted"  # to SetChargingProfile

    def setup(self) -> None:
        self.received, self.held = [], {}

    async def route_message(self, raw: str) -> None:
        frame = json.loads(raw)
        if frame[0] == 2:
            self.received.append((frame[2], frame[3]))
        await super().route_message(raw)  # type: ignore[misc]

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [payload for a, payload in self.received if a == action]


class Smart16(_Recording, Client16):
    @on("GetConfiguration")
    async def get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        values = {
            "ChargeProfileMaxStackLevel": "3",
            "ChargingScheduleAllowedChargingRateUnit": "Current",
            "ChargingScheduleMaxPeriods": "4",
            "MaxChargingProfilesInstalled": "5",
            "SupportedFeatureProfiles": "Core,SmartCharging",
        }
        found = [{"key": k, "readonly": True, "value": values[k]} for k in key or () if k in values]
        return result16.GetConfiguration(configuration_key=found)

    @on("SetChargingProfile")
    async def set_profile(self, connector_id: int, cs_charging_profiles: dict, **_: Any) -> Any:
        if self.answer == "Accepted":
            self.held[cs_charging_profiles["charging_profile_id"]] = cs_charging_profiles
        return result16.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    async def clear_profile(self, id: int | None = None, **_: Any) -> Any:
        found = self.held.pop(id, None) if id is not None else None
        return result16.ClearChargingProfile(status="Accepted" if found else "Unknown")

    @on("GetCompositeSchedule")
    async def composite(self, connector_id: int, duration: int, **_: Any) -> Any:
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=NOW,
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": "A",
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 16.0, "number_phases": 3},
                    {"start_period": 1800, "limit": 10.5},
                ],
            },
        )

    @on("RemoteStartTransaction")
    async def remote_start(self, id_tag: str, **_: Any) -> Any:
        return result16.RemoteStartTransaction(status="Accepted")

    async def boot(self) -> Any:
        return await self.call(
            call16.BootNotification(charge_point_vendor="ACME", charge_point_model="AC-22")
        )


class Smart201(_Recording, Client201):
    report_held = True  # answer GetChargingProfiles from what it holds (False: NoProfiles)

    @on("GetVariables")
    async def get_variables(self, get_variable_data: list[dict], **_: Any) -> Any:
        values = {
            "Enabled": "true",
            "Available": "true",
            "ProfileStackLevel": "2",
            "RateUnit": "A,W",
            "PeriodsPerSchedule": "8",
        }
        results = []
        for item in get_variable_data:
            name = item["variable"]["name"]
            result = {"component": item["component"], "variable": item["variable"]}
            if name in values:
                results.append(
                    {**result, "attribute_status": "Accepted", "attribute_value": values[name]}
                )
            else:
                results.append({**result, "attribute_status": "UnknownVariable"})
        return result201.GetVariables(get_variable_result=results)

    @on("SetChargingProfile")
    async def set_profile(self, evse_id: int, charging_profile: dict, **_: Any) -> Any:
        if self.answer == "Accepted":
            self.held[charging_profile["id"]] = {**charging_profile, "evse_id": evse_id}
        return result201.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    async def clear_profile(self, charging_profile_id: int | None = None, **_: Any) -> Any:
        found = self.held.pop(charging_profile_id, None) if charging_profile_id else None
        return result201.ClearChargingProfile(status="Accepted" if found else "Unknown")

    @on("GetCompositeSchedule")
    async def composite(self, evse_id: int, duration: int, **_: Any) -> Any:
        return result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": NOW,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 7360.0}],
            },
        )

    @on("GetChargingProfiles")
    async def get_profiles(self, request_id: int, charging_profile: dict, **_: Any) -> Any:
        wanted = set(charging_profile.get("charging_profile_id") or self.held)
        has = self.report_held and bool(wanted & set(self.held))
        return result201.GetChargingProfiles(status="Accepted" if has else "NoProfiles")

    @after("GetChargingProfiles")
    async def report(self, request_id: int, charging_profile: dict, **_: Any) -> None:
        wanted = set(charging_profile.get("charging_profile_id") or self.held)
        profiles = [p for i, p in self.held.items() if i in wanted]
        if not (self.report_held and profiles):
            return
        by_evse: dict[int, list[dict]] = {}
        for p in profiles:
            by_evse.setdefault(p["evse_id"], []).append(
                {k: v for k, v in p.items() if k != "evse_id"}
            )
        evses = list(by_evse.items())
        for n, (evse_id, group) in enumerate(evses):
            await self.call(
                call201.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    evse_id=evse_id,
                    charging_profile=group,
                    tbc=n < len(evses) - 1,
                )
            )

    @on("RequestStartTransaction")
    async def request_start(self, id_token: dict, remote_start_id: int, **_: Any) -> Any:
        return result201.RequestStartTransaction(status="Accepted")

    async def boot(self) -> Any:
        return await self.call(
            call201.BootNotification(
                charging_station={"vendor_name": "ACME", "model": "AC-22"}, reason="PowerUp"
            )
        )


async def connect_smart(csms: Csms, cp_id: str, version: str, **attrs: Any) -> Charger:
    ws = await websockets.connect(f"{csms.ocpp}/{cp_id}", subprotocols=[f"ocpp{version}"])
    client = (Smart16 if version == "1.6" else Smart201)(cp_id, ws)
    client.setup()
    for name, value in attrs.items():
        setattr(client, name, value)
    return Charger(client, ws)


async def until(check: Any) -> Any:
    """Polls `check()` (sync or async) until it gives something true, for up to 5 s."""
    async with asyncio.timeout(5.0):
        while True:
            found = check()
            if asyncio.iscoroutine(found):
                found = await found
            if found:
                return found
            await asyncio.sleep(0.02)
