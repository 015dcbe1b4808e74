"""Charging profiles, version-free: what csms asks a charger to keep its power under.

One vocabulary for OCPP 1.6 (Smart Charging profile) and 2.0.1 (functional block K); the
gateway's per-version builders translate it (1.6 spells the station maximum
"ChargePointMaxProfile" and calls an EVSE a connector). The rules a profile must meet before it
goes out (its own shape, and the limits the charger announced) live here, so a refusal is an
`Invalid` (422) before anything is sent. Pure; times passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from chargepark.clock import isoformat_utc, parse_utc
from chargepark.errors import Invalid

# The charger's own numbers bound these, but every charger must take at least this much
# (1.6 and 2.0.1 schemas: integers; we keep them to what our columns hold).
PROFILE_ID_MAX = 2**31 - 1
STACK_LEVEL_MAX = 1000
PERIODS_MAX = 1024
LIMIT_MAX = 1_000_000.0  # A or W: a megawatt is beyond any charger


class ProfilePurpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"  # 1.6: "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class ProfileKind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    AMPS = "A"
    WATTS = "W"


class Delivery(StrEnum):
    """Where an operator's stored profile stands with its charger."""

    PENDING = "pending"  # stored, not (yet) sent: the charger is offline, or it is on its way
    SENT = "sent"  # sent, but no answer that says yes or no (a CALLERROR, a timeout)
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class SchedulePeriod:
    start_period: int  # seconds from the schedule's start
    limit: float  # in the profile's unit (A per phase, or W)
    number_phases: int | None = None
    phase_to_use: int | None = None  # 2.0.1 only (single-phase charging on a 3-phase EVSE)


@dataclass(frozen=True, kw_only=True)
class ChargingProfile:
    profile_id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    evse_id: int = 0  # 0: the whole charger
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None  # TxProfile only
    start_schedule: datetime | None = None
    duration: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class SmartChargingLimits:
    """What the charger said it can do (1.6 GetConfiguration, 2.0.1 SmartChargingCtrlr).
    None: the charger did not say, so csms does not hold a profile to it."""

    supported: bool
    max_stack_level: int | None
    units: tuple[RateUnit, ...]
    max_periods: int | None
    max_profiles: int | None


UNKNOWN_LIMITS = SmartChargingLimits(
    supported=True, max_stack_level=None, units=(), max_periods=None, max_profiles=None
)


@dataclass(frozen=True)
class CompositeSchedule:
    """A charger's answer to GetCompositeSchedule, version-free."""

    evse_id: int
    start: datetime | None
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]


@dataclass(frozen=True)
class ExternalLimit:
    """A limit the charger reports from elsewhere (2.0.1 NotifyChargingLimit): a grid
    operator, an energy management system, the station itself."""

    evse_id: int  # 0: the whole charger
    source: str  # chargingLimitSource: EMS, Other, SO, CSO
    limit: float | None  # the schedule's limit in force when reported (None: no schedule)
    unit: RateUnit | None
    grid_critical: bool | None
    reported_at: datetime


@dataclass(frozen=True)
class EvChargingNeeds:
    """What an ISO 15118 car told its charger (2.0.1 NotifyEVChargingNeeds)."""

    evse_id: int
    requested_transfer: str  # requestedEnergyTransfer: AC_single_phase, AC_three_phase, DC, ...
    departure: datetime | None
    energy_wh: float | None
    max_current: float | None  # A (AC) or the DC maximum current
    min_current: float | None
    reported_at: datetime


class ProfileRefused(Invalid):
    """A profile that is malformed or that the charger said it cannot hold."""


def check_profile(profile: ChargingProfile) -> None:
    """The rules every profile must meet, whatever the charger: refuse it before sending."""
    if not 0 < profile.profile_id <= PROFILE_ID_MAX:
        raise ProfileRefused(f"profile_id must be 1..{PROFILE_ID_MAX}")
    if not 0 <= profile.stack_level <= STACK_LEVEL_MAX:
        raise ProfileRefused(f"stack_level must be 0..{STACK_LEVEL_MAX}")
    if profile.evse_id < 0:
        raise ProfileRefused("evse_id must be 0 (the whole charger) or an EVSE id")
    if profile.purpose is ProfilePurpose.STATION_MAX and profile.evse_id != 0:
        raise ProfileRefused("a station maximum profile applies to evse_id 0 only")
    if profile.purpose is not ProfilePurpose.TX and profile.transaction_id is not None:
        raise ProfileRefused("only a TxProfile names a transaction")
    if (profile.kind is ProfileKind.RECURRING) != (profile.recurrency is not None):
        raise ProfileRefused("recurrency is required for a Recurring profile, and only there")
    if profile.kind is ProfileKind.RELATIVE and profile.start_schedule is not None:
        raise ProfileRefused("a Relative profile has no start_schedule")
    if profile.valid_from and profile.valid_to and profile.valid_from >= profile.valid_to:
        raise ProfileRefused("valid_from must be before valid_to")
    if profile.duration is not None and profile.duration <= 0:
        raise ProfileRefused("duration must be positive")
    if profile.min_rate is not None and not 0 <= profile.min_rate <= LIMIT_MAX:
        raise ProfileRefused(f"min_rate must be 0..{LIMIT_MAX:g}")
    _check_periods(profile.periods)


def _check_periods(periods: tuple[SchedulePeriod, ...]) -> None:
    if not 0 < len(periods) <= PERIODS_MAX:
        raise ProfileRefused(f"a schedule has 1..{PERIODS_MAX} periods")
    if periods[0].start_period != 0:
        raise ProfileRefused("the first period starts at 0")
    for before, after in pairwise(periods):
        if after.start_period <= before.start_period:
            raise ProfileRefused("periods are in increasing start_period order")
    for period in periods:
        if not 0 <= period.limit <= LIMIT_MAX:
            raise ProfileRefused(f"a period's limit must be 0..{LIMIT_MAX:g}")
        if period.number_phases is not None and period.number_phases not in (1, 2, 3):
            raise ProfileRefused("number_phases is 1, 2 or 3")
        if period.phase_to_use is not None and (
            period.phase_to_use not in (1, 2, 3) or period.number_phases != 1
        ):
            raise ProfileRefused("phase_to_use (1, 2 or 3) goes with number_phases 1 only")


def check_against(profile: ChargingProfile, limits: SmartChargingLimits) -> None:
    """`check_profile`, then what this charger said it can hold (its stack levels, units,
    periods): a profile beyond them would only be rejected, so it is refused here."""
    check_profile(profile)
    if not limits.supported:
        raise ProfileRefused("this charger does not support smart charging")
    if limits.max_stack_level is not None and profile.stack_level > limits.max_stack_level:
        raise ProfileRefused(
            f"stack_level {profile.stack_level} is above this charger's maximum "
            f"({limits.max_stack_level})"
        )
    if limits.units and profile.unit not in limits.units:
        allowed = ", ".join(u.value for u in limits.units)
        raise ProfileRefused(f"unit {profile.unit.value} is not one this charger takes ({allowed})")
    if limits.max_periods is not None and len(profile.periods) > limits.max_periods:
        raise ProfileRefused(
            f"{len(profile.periods)} periods: this charger takes at most {limits.max_periods}"
        )


@dataclass(frozen=True)
class StoredProfile:
    """An operator's profile for one charger, and where it stands with the charger."""

    charger_id: str
    profile: ChargingProfile
    delivery: Delivery
    detail: str | None  # why, when not accepted (the charger's status, an error, offline)
    updated_at: datetime


def delivery_of(status: str, response_status: str | None) -> Delivery:
    """A command's ending (a `CommandStatus` value, and the answer's status when answered) as
    a delivery state: a charger that said anything but Accepted rejected the profile."""
    if status == "answered":
        return Delivery.ACCEPTED if response_status == "Accepted" else Delivery.REJECTED
    if status == "offline":
        return Delivery.PENDING
    if status == "invalid":
        return Delivery.REJECTED
    return Delivery.SENT  # a CALLERROR or no answer: it may or may not hold it


def profile_as_dict(profile: ChargingProfile) -> dict[str, Any]:
    """The profile's fields in snake_case JSON (REST bodies, stored rows)."""
    return {
        "profile_id": profile.profile_id,
        "stack_level": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "recurrency": profile.recurrency.value if profile.recurrency else None,
        "valid_from": _iso(profile.valid_from),
        "valid_to": _iso(profile.valid_to),
        "evse_id": profile.evse_id,
        "transaction_id": profile.transaction_id,
        "unit": profile.unit.value,
        "periods": [
            {
                "start_period": p.start_period,
                "limit": p.limit,
                "number_phases": p.number_phases,
                "phase_to_use": p.phase_to_use,
            }
            for p in profile.periods
        ],
        "start_schedule": _iso(profile.start_schedule),
        "duration": profile.duration,
        "min_rate": profile.min_rate,
    }


def profile_from_dict(raw: Mapping[str, Any], profile_id: int | None = None) -> ChargingProfile:
    """The profile a `profile_as_dict` (or a REST body of that shape, already checked against
    its JSON schema) describes; `check_profile` is the caller's next step."""
    return ChargingProfile(
        profile_id=int(profile_id if profile_id is not None else raw["profile_id"]),
        stack_level=int(raw["stack_level"]),
        purpose=ProfilePurpose(raw["purpose"]),
        kind=ProfileKind(raw["kind"]),
        unit=RateUnit(raw["unit"]),
        periods=tuple(
            SchedulePeriod(
                start_period=int(p["start_period"]),
                limit=float(p["limit"]),
                number_phases=p.get("number_phases"),
                phase_to_use=p.get("phase_to_use"),
            )
            for p in raw["periods"]
        ),
        evse_id=int(raw.get("evse_id") or 0),
        recurrency=Recurrency(raw["recurrency"]) if raw.get("recurrency") else None,
        valid_from=_when(raw.get("valid_from")),
        valid_to=_when(raw.get("valid_to")),
        transaction_id=raw.get("transaction_id"),
        start_schedule=_when(raw.get("start_schedule")),
        duration=raw.get("duration"),
        min_rate=float(raw["min_rate"]) if raw.get("min_rate") is not None else None,
    )


def _iso(at: datetime | None) -> str | None:
    return isoformat_utc(at) if at is not None else None


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ProfileRefused(f"{text[:40]!r} is no date-time with a time zone") from exc
