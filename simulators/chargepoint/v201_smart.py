"""OCPP 2.0.1 functional block K at the charger: SetChargingProfile, ClearChargingProfile,
GetChargingProfiles (then ReportChargingProfiles), GetCompositeSchedule; mixed into the 2.0.1
client. A charger configured without smart charging answers them with NotImplemented.

The ISO 15118 messages the charger sends (NotifyEVChargingNeeds, NotifyEVChargingSchedule)
and the external limit (NotifyChargingLimit, ClearedChargingLimit) are built here too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from simulators.chargepoint.evse import Evse
from simulators.chargepoint.profile_wire import (
    BadProfile,
    parse201,
    periods_out,
    profile201,
    schedule201,
)
from simulators.chargepoint.profiles import TX, Profile, purpose_of
from simulators.clock import isoformat

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator

REPORT_CHUNK = 10  # profiles per ReportChargingProfiles
EXTERNAL_SOURCE = "EMS"


class Smart201:
    sim: ChargePointSimulator

    def _supported(self) -> None:
        if not self.sim.config.smart_charging:
            raise OcppNotImplemented(description="this charger has no smart charging")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        self._supported()
        try:
            profile = parse201(evse_id, charging_profile)
        except BadProfile as exc:
            self.sim.emit("profile_rejected", f"SetChargingProfile unreadable: {exc}")
            return call_result.SetChargingProfile(
                status="Rejected", status_info={"reason_code": "InvalidProfile"}
            )
        status, why = self.sim.set_profile(profile)
        if status == "Accepted" and profile.purpose == TX:
            self.sim.later(lambda: ev_schedule(self.sim, profile))
        info = None if why is None else {"reason_code": "InvalidValue", "additional_info": why}
        return call_result.SetChargingProfile(status=status, status_info=info)

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        self._supported()
        crit = charging_profile_criteria or {}
        purpose = crit.get("charging_profile_purpose")
        gone = self.sim.clear_profiles(
            profile_id=charging_profile_id,
            evse=crit.get("evse_id"),
            purpose=purpose_of(purpose) if purpose else None,
            stack_level=crit.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if gone else "Unknown")

    @on(Action.get_charging_profiles)
    async def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        self._supported()
        purpose = charging_profile.get("charging_profile_purpose")
        sources = charging_profile.get("charging_limit_source")
        found = self.sim.profiles.select(
            evse=evse_id,
            ids=charging_profile.get("charging_profile_id"),
            purpose=purpose_of(purpose) if purpose else None,
            stack_level=charging_profile.get("stack_level"),
        )
        if sources and "CSO" not in sources:
            found = []  # every profile here came from the CSMS
        self.sim.emit("command", f"GetChargingProfiles ({len(found)} found)")
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")
        sim = self.sim
        self.sim.later(lambda: report_profiles(sim, request_id, found))
        return call_result.GetChargingProfiles(status="Accepted")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        self._supported()
        if evse_id != 0 and evse_id not in self.sim.evses:
            return call_result.GetCompositeSchedule(
                status="Rejected", status_info={"reason_code": "UnknownEvse"}
            )
        start, unit, periods = self.sim.composite_schedule(evse_id, duration, charging_rate_unit)
        self.sim.emit("command", f"GetCompositeSchedule {evse_id} {duration} s {unit}")
        return call_result.GetCompositeSchedule(
            status="Accepted", schedule=schedule201(evse_id, start, unit, duration, periods)
        )


async def report_profiles(sim: ChargePointSimulator, request_id: int, found: list[Profile]) -> None:
    """ReportChargingProfiles: one message per EVSE (and chunk), tbc on all but the last."""
    groups: list[tuple[int, list[Profile]]] = []
    for p in found:
        if groups and groups[-1][0] == p.evse and len(groups[-1][1]) < REPORT_CHUNK:
            groups[-1][1].append(p)
        else:
            groups.append((p.evse, [p]))
    for n, (evse_id, profiles) in enumerate(groups):
        await sim.try_call(
            call.ReportChargingProfiles(
                request_id=request_id,
                charging_limit_source="CSO",
                charging_profile=[profile201(p) for p in profiles],
                evse_id=evse_id,
                tbc=n < len(groups) - 1,
            )
        )


async def ev_schedule(sim: ChargePointSimulator, p: Profile) -> None:
    """An ISO 15118 car answers a TxProfile with the schedule it will follow."""
    e = sim.evses.get(p.evse)
    if e is None or e.vehicle is None or not e.vehicle.iso15118:
        return
    schedule: dict[str, Any] = {
        "id": p.id,
        "charging_rate_unit": p.unit,
        "charging_schedule_period": periods_out(list(p.periods)),
    }
    if p.duration is not None:
        schedule["duration"] = p.duration
    sim.emit("iso15118", "NotifyEVChargingSchedule", e.id)
    await sim.try_call(
        call.NotifyEVChargingSchedule(
            time_base=isoformat(sim.clock.now()), charging_schedule=schedule, evse_id=e.id
        )
    )


async def ev_needs(sim: ChargePointSimulator, e: Evse) -> None:
    """An ISO 15118 car tells its needs once its transaction has started."""
    car = e.vehicle
    tx = e.tx
    if car is None or tx is None or not car.iso15118:
        return
    if tx.answered is not None:
        await tx.answered
    cfg = sim.config
    phases = min(cfg.phases, car.phases)
    rating = cfg.curve.max_kw * 1000 / (cfg.voltage * cfg.phases)
    wanted = car.energy_amount_wh
    if wanted is None:
        wanted = (car.want_soc - car.soc) * car.battery_kwh * 1000
    needs: dict[str, Any] = {
        "requested_energy_transfer": "AC_three_phase" if phases == 3 else "AC_single_phase",
        "ac_charging_parameters": {
            "energy_amount": round(wanted),
            "ev_min_current": round(cfg.min_amps),
            "ev_max_current": round(car.max_amps or rating),
            "ev_max_voltage": round(cfg.voltage),
        },
    }
    if car.departure is not None:
        needs["departure_time"] = isoformat(car.departure)
    sim.emit("iso15118", "NotifyEVChargingNeeds", e.id, energy_wh=round(wanted))
    await sim.try_call(call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=e.id))


async def external_limit(sim: ChargePointSimulator, amps: float | None, evse_id: int) -> None:
    """NotifyChargingLimit with its schedule, or ClearedChargingLimit when it is gone."""
    if amps is None:
        await sim.try_call(
            call.ClearedChargingLimit(charging_limit_source=EXTERNAL_SOURCE, evse_id=evse_id)
        )
        return
    schedule = {
        "id": 1,
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": amps}],
    }
    await sim.try_call(
        call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": EXTERNAL_SOURCE, "is_grid_critical": False},
            charging_schedule=[schedule],
            evse_id=evse_id,
        )
    )
