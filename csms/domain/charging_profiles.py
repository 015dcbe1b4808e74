"""Charging profiles, version-free: what csms asks a charger to keep its power under.

One vocabulary for OCPP 1.6 (Smart Charging profile) and 2.0.1 (functional block K); the
gateway's per-version builders translate it (1.6 spells the station maximum
"ChargePointMaxProfile" and calls an EVSE a connector). The rules a profile must meet before it
goes out (its own shape, and the limits the charger announced) live here, so a refusal is an
`Invalid` (422) before anything is sent. Pure; times passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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
    for before, after in zip(periods, periods[1:], strict=False):
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
