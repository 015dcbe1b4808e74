"""OCPP 1.6's spelling of what csms asks of a charger (Core remote start/stop, Smart Charging).

1.6 calls an EVSE a connector (one connector per EVSE here, as everywhere in csms), spells the
station maximum "ChargePointMaxProfile", numbers transactions with integers and wants profile
limits in multiples of 0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chargepark.clock import isoformat_utc, parse_utc
from csms.domain.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)
from csms.ports.gateway import StartCharging

VERSION = "1.6"
ID_TOKEN_MAX = 20  # idTag is CiString20
_PURPOSE = {
    ProfilePurpose.STATION_MAX: "ChargePointMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
}
PURPOSE_OF = {spelled: purpose for purpose, spelled in _PURPOSE.items()}


def start_charging(start: StartCharging) -> tuple[str, dict[str, Any]]:
    """RemoteStartTransaction: 1.6 has no remoteStartId; the charger's StartTransaction is
    matched to the pending session by connector and idTag. A charging profile goes with it as
    the transaction's TxProfile (it names no transaction: there is none yet)."""
    payload: dict[str, Any] = {"idTag": start.id_token}
    if start.evse_id:
        payload["connectorId"] = start.evse_id
    if start.charging_profile is not None:
        profile = cs_charging_profile(start.charging_profile)
        profile["chargingProfilePurpose"] = "TxProfile"
        profile.pop("transactionId", None)
        payload["chargingProfile"] = profile
    return "RemoteStartTransaction", payload


def stop_charging(transaction_id: str | None) -> tuple[str, dict[str, Any]]:
    """RemoteStopTransaction: 1.6 transaction ids are integers."""
    return "RemoteStopTransaction", {"transactionId": int(transaction_id or 0)}


def set_charging_profile(profile: ChargingProfile) -> tuple[str, dict[str, Any]]:
    return "SetChargingProfile", {
        "connectorId": profile.evse_id,
        "csChargingProfiles": cs_charging_profile(profile),
    }


def clear_charging_profile(
    *,
    profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: ProfilePurpose | None = None,
    stack_level: int | None = None,
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {}
    if profile_id is not None:
        payload["id"] = profile_id
    if evse_id is not None:
        payload["connectorId"] = evse_id
    if purpose is not None:
        payload["chargingProfilePurpose"] = _PURPOSE[purpose]
    if stack_level is not None:
        payload["stackLevel"] = stack_level
    return "ClearChargingProfile", payload


def get_composite_schedule(
    evse_id: int, duration: int, unit: RateUnit | None
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {"connectorId": evse_id, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit.value
    return "GetCompositeSchedule", payload


def composite_schedule(response: Mapping[str, Any], evse_id: int) -> CompositeSchedule | None:
    """The Accepted answer's schedule, version-free (None: rejected, or no schedule)."""
    schedule = response.get("chargingSchedule")
    if response.get("status") != "Accepted" or not schedule:
        return None
    start = response.get("scheduleStart") or schedule.get("startSchedule")
    return CompositeSchedule(
        evse_id=int(response.get("connectorId", evse_id)),
        start=parse_utc(start) if start else None,
        unit=RateUnit(schedule["chargingRateUnit"]),
        periods=periods_of(schedule["chargingSchedulePeriod"]),
    )


def cs_charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """csChargingProfiles (and RemoteStartTransaction.chargingProfile)."""
    out: dict[str, Any] = {
        "chargingProfileId": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": _PURPOSE[profile.purpose],
        "chargingProfileKind": profile.kind.value,
    }
    if profile.transaction_id is not None and profile.transaction_id.isdigit():
        out["transactionId"] = int(profile.transaction_id)
    if profile.recurrency is not None:
        out["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["validFrom"] = isoformat_utc(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = isoformat_utc(profile.valid_to)
    out["chargingSchedule"] = _schedule(profile)
    return out


def _schedule(profile: ChargingProfile) -> dict[str, Any]:
    schedule: dict[str, Any] = {}
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    if profile.start_schedule is not None:
        schedule["startSchedule"] = isoformat_utc(profile.start_schedule)
    schedule["chargingRateUnit"] = profile.unit.value
    schedule["chargingSchedulePeriod"] = [_period(p) for p in profile.periods]
    if profile.min_rate is not None:
        schedule["minChargingRate"] = _tenth(profile.min_rate)
    return schedule


def _period(period: SchedulePeriod) -> dict[str, Any]:
    # 1.6 has no phaseToUse: a single-phase limit is numberPhases 1 on whichever phase it is.
    out: dict[str, Any] = {"startPeriod": period.start_period, "limit": _tenth(period.limit)}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    return out


def _tenth(value: float) -> float:
    """The schema's multipleOf 0.1, rounded down so a limit never grows on the way out."""
    return int(round(value * 10, 6)) / 10


def periods_of(raw: Any) -> tuple[SchedulePeriod, ...]:
    return tuple(
        SchedulePeriod(
            start_period=int(p["startPeriod"]),
            limit=float(p["limit"]),
            number_phases=p.get("numberPhases"),
            phase_to_use=p.get("phaseToUse"),
        )
        for p in raw
    )
