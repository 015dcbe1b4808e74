"""OCPP 2.0.1's spelling of what csms asks of a charger (F01/F03 Request*Transaction, K smart
charging)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chargepark.clock import isoformat_utc, parse_utc
from csms.domain.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)
from csms.ocpp.gateway.v16 import periods_of
from csms.ports.gateway import StartCharging

VERSION = "2.0.1"
ID_TOKEN_MAX = 36  # IdTokenType.idToken is string[36]


def start_charging(start: StartCharging) -> tuple[str, dict[str, Any]]:
    """RequestStartTransaction: the charger's TransactionEvent names the session by
    remoteStartId. A charging profile goes with it as the transaction's TxProfile, naming no
    transaction (K05: the charger ties it to the one it starts)."""
    payload: dict[str, Any] = {
        "idToken": {"idToken": start.id_token, "type": "Central"},
        "remoteStartId": start.remote_start_id,
    }
    if start.evse_id:
        payload["evseId"] = start.evse_id
    if start.charging_profile is not None:
        profile = charging_profile(start.charging_profile)
        profile["chargingProfilePurpose"] = ProfilePurpose.TX.value
        profile.pop("transactionId", None)
        payload["chargingProfile"] = profile
    return "RequestStartTransaction", payload


def stop_charging(transaction_id: str | None) -> tuple[str, dict[str, Any]]:
    return "RequestStopTransaction", {"transactionId": transaction_id}


def set_charging_profile(profile: ChargingProfile) -> tuple[str, dict[str, Any]]:
    return "SetChargingProfile", {
        "evseId": profile.evse_id,
        "chargingProfile": charging_profile(profile),
    }


def clear_charging_profile(
    *,
    profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: ProfilePurpose | None = None,
    stack_level: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """By id alone, or by criteria (K10: an id and criteria together is not expected)."""
    if profile_id is not None:
        return "ClearChargingProfile", {"chargingProfileId": profile_id}
    criteria: dict[str, Any] = {}
    if evse_id is not None:
        criteria["evseId"] = evse_id
    if purpose is not None:
        criteria["chargingProfilePurpose"] = purpose.value
    if stack_level is not None:
        criteria["stackLevel"] = stack_level
    return "ClearChargingProfile", {"chargingProfileCriteria": criteria} if criteria else {}


def get_composite_schedule(
    evse_id: int, duration: int, unit: RateUnit | None
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {"evseId": evse_id, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit.value
    return "GetCompositeSchedule", payload


def get_charging_profiles(
    request_id: int,
    *,
    evse_id: int | None = None,
    purpose: ProfilePurpose | None = None,
    profile_ids: tuple[int, ...] = (),
) -> tuple[str, dict[str, Any]]:
    """GetChargingProfiles: the charger answers Accepted (ReportChargingProfiles follow, under
    `request_id`) or NoProfiles."""
    criterion: dict[str, Any] = {}
    if purpose is not None:
        criterion["chargingProfilePurpose"] = purpose.value
    if profile_ids:
        criterion["chargingProfileId"] = list(profile_ids)
    payload: dict[str, Any] = {"requestId": request_id, "chargingProfile": criterion}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return "GetChargingProfiles", payload


def composite_schedule(response: Mapping[str, Any], evse_id: int) -> CompositeSchedule | None:
    """The Accepted answer's schedule, version-free (None: rejected, or no schedule)."""
    schedule = response.get("schedule")
    if response.get("status") != "Accepted" or not schedule:
        return None
    return CompositeSchedule(
        evse_id=int(schedule.get("evseId", evse_id)),
        start=parse_utc(schedule["scheduleStart"]),
        unit=RateUnit(schedule["chargingRateUnit"]),
        periods=periods_of(schedule["chargingSchedulePeriod"]),
    )


def charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose.value,
        "chargingProfileKind": profile.kind.value,
    }
    if profile.recurrency is not None:
        out["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["validFrom"] = isoformat_utc(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = isoformat_utc(profile.valid_to)
    if profile.transaction_id is not None:
        out["transactionId"] = profile.transaction_id
    out["chargingSchedule"] = [_schedule(profile)]
    return out


def _schedule(profile: ChargingProfile) -> dict[str, Any]:
    # One schedule per profile, numbered as the profile: csms sends no alternatives for the
    # car to choose from (ISO 15118 offers up to three).
    schedule: dict[str, Any] = {"id": profile.profile_id}
    start = profile.start_schedule
    if start is None and profile.kind is not ProfileKind.RELATIVE:
        # K01.FR.40: Absolute and Recurring schedules must say when they start; without one
        # the profile means "from now", as 1.6 takes it.
        start = datetime.now(UTC).replace(microsecond=0)
    if start is not None:
        schedule["startSchedule"] = isoformat_utc(start)
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    schedule["chargingRateUnit"] = profile.unit.value
    schedule["chargingSchedulePeriod"] = [_period(p) for p in profile.periods]
    if profile.min_rate is not None:
        schedule["minChargingRate"] = profile.min_rate
    return schedule


def _period(period: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": period.start_period, "limit": period.limit}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    if period.phase_to_use is not None:
        out["phaseToUse"] = period.phase_to_use
    return out


def profile_of(raw: Mapping[str, Any], evse_id: int) -> ChargingProfile:
    """A profile as a 2.0.1 charger reports it (ReportChargingProfiles), version-free; the
    first of its schedules (csms sends one)."""
    schedule = raw["chargingSchedule"][0]
    return ChargingProfile(
        profile_id=int(raw["id"]),
        stack_level=int(raw["stackLevel"]),
        purpose=_purpose(raw["chargingProfilePurpose"]),
        kind=ProfileKind(raw["chargingProfileKind"]),
        unit=RateUnit(schedule["chargingRateUnit"]),
        periods=periods_of(schedule["chargingSchedulePeriod"]),
        evse_id=evse_id,
        recurrency=Recurrency(raw["recurrencyKind"]) if raw.get("recurrencyKind") else None,
        valid_from=_when(raw.get("validFrom")),
        valid_to=_when(raw.get("validTo")),
        transaction_id=raw.get("transactionId"),
        start_schedule=_when(schedule.get("startSchedule")),
        duration=schedule.get("duration"),
        min_rate=schedule.get("minChargingRate"),
    )


def _purpose(spelled: str) -> ProfilePurpose:
    # ChargingStationExternalConstraints profiles are the charger's own (an external limit):
    # csms reads them as a station maximum, the closest of its purposes.
    if spelled == "ChargingStationExternalConstraints":
        return ProfilePurpose.STATION_MAX
    return ProfilePurpose(spelled)


def _when(text: str | None) -> datetime | None:
    return parse_utc(text) if text else None
