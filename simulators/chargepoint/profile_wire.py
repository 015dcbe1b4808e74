"""Charging profiles on the wire: 1.6 csChargingProfiles and 2.0.1 ChargingProfileType (as the
ocpp library hands them over, snake_case) into the version-free `Profile`, and composite
schedules back into each version's payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulators.chargepoint.profiles import Period, Profile, purpose_of
from simulators.clock import isoformat


class BadProfile(ValueError):
    """A profile the charger cannot read (answered Rejected)."""


def _time(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        found = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadProfile(f"bad timestamp {raw!r}") from exc
    if found.tzinfo is None:
        raise BadProfile(f"timestamp without a zone {raw!r}")
    return found


def _profile(raw: dict[str, Any], evse: int, schedule: dict[str, Any], tx: Any) -> Profile:
    try:
        periods = tuple(
            Period(int(x["start_period"]), float(x["limit"]), x.get("number_phases"))
            for x in schedule["charging_schedule_period"]
        )
        return Profile(
            id=int(raw["charging_profile_id"] if "charging_profile_id" in raw else raw["id"]),
            stack_level=int(raw["stack_level"]),
            purpose=purpose_of(raw["charging_profile_purpose"]),
            kind=raw["charging_profile_kind"],
            recurrency=raw.get("recurrency_kind"),
            valid_from=_time(raw.get("valid_from")),
            valid_to=_time(raw.get("valid_to")),
            unit=schedule["charging_rate_unit"],
            periods=periods,
            start_schedule=_time(schedule.get("start_schedule")),
            duration=schedule.get("duration"),
            min_rate=schedule.get("min_charging_rate"),
            evse=evse,
            transaction_id=None if tx is None else str(tx),
            raw=raw,
        )
    except (KeyError, TypeError) as exc:
        raise BadProfile(f"incomplete profile: {exc}") from exc


def parse16(connector_id: int, raw: dict[str, Any]) -> Profile:
    return _profile(
        raw, connector_id, raw.get("charging_schedule") or {}, raw.get("transaction_id")
    )


def parse201(evse_id: int, raw: dict[str, Any]) -> Profile:
    schedules = raw.get("charging_schedule") or [{}]
    return _profile(raw, evse_id, schedules[0], raw.get("transaction_id"))


def periods_out(periods: list[Period]) -> list[dict[str, Any]]:
    out = []
    for x in periods:
        # a whole number goes out as one: 1.6's schema has multipleOf 0.1 on limits, which
        # some CSMS validators cannot check on a float
        limit = int(x.limit) if float(x.limit).is_integer() else x.limit
        item: dict[str, Any] = {"start_period": x.start, "limit": limit}
        if x.phases is not None:
            item["number_phases"] = x.phases
        out.append(item)
    return out


def schedule16(start: datetime, unit: str, duration: int, periods: list[Period]) -> dict[str, Any]:
    return {
        "duration": duration,
        "start_schedule": isoformat(start),
        "charging_rate_unit": unit,
        "charging_schedule_period": periods_out(periods),
    }


def schedule201(
    evse_id: int, start: datetime, unit: str, duration: int, periods: list[Period]
) -> dict[str, Any]:
    return {
        "evse_id": evse_id,
        "duration": duration,
        "schedule_start": isoformat(start),
        "charging_rate_unit": unit,
        "charging_schedule_period": periods_out(periods),
    }


def profile201(p: Profile) -> dict[str, Any]:
    """A profile as ReportChargingProfiles lists it (as it was sent)."""
    return dict(p.raw)
