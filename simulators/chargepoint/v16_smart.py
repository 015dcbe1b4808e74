"""OCPP 1.6J Smart Charging profile: the commands answered (SetChargingProfile,
ClearChargingProfile, GetCompositeSchedule); mixed into the 1.6 client. A charger configured
without smart charging answers SetChargingProfile NotSupported and the rest NotImplemented."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulators.chargepoint.profile_wire import BadProfile, parse16, schedule16
from simulators.chargepoint.profiles import purpose_of

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator


class Smart16:
    sim: ChargePointSimulator

    def _supported(self) -> None:
        if not self.sim.config.smart_charging:
            raise OcppNotImplemented(description="this charger has no smart charging")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        if not self.sim.config.smart_charging:
            self.sim.emit("profile_rejected", "SetChargingProfile: smart charging not supported")
            return call_result.SetChargingProfile(status="NotSupported")
        try:
            profile = parse16(connector_id, cs_charging_profiles)
        except BadProfile as exc:
            self.sim.emit("profile_rejected", f"SetChargingProfile unreadable: {exc}")
            return call_result.SetChargingProfile(status="Rejected")
        status, _why = self.sim.set_profile(profile)
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        self._supported()
        if id is not None:  # an id alone decides (1.6: the other fields are then ignored)
            gone = self.sim.clear_profiles(profile_id=id)
        else:
            gone = self.sim.clear_profiles(
                evse=connector_id,
                purpose=purpose_of(charging_profile_purpose) if charging_profile_purpose else None,
                stack_level=stack_level,
            )
        return call_result.ClearChargingProfile(status="Accepted" if gone else "Unknown")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        self._supported()
        if connector_id != 0 and connector_id not in self.sim.evses:
            return call_result.GetCompositeSchedule(status="Rejected")
        start, unit, periods = self.sim.composite_schedule(
            connector_id, duration, charging_rate_unit
        )
        self.sim.emit("command", f"GetCompositeSchedule {connector_id} {duration} s {unit}")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=schedule16(start, unit, duration, periods)["start_schedule"],
            charging_schedule=schedule16(start, unit, duration, periods),
        )
