"""A site's grid connection: its limit now (base, schedule by time of day and weekday, an
external curtailment with an expiry), turned into the capacity the allocator shares. Pure;
times passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chargepark.errors import Invalid
from csms.domain.energy.model import Capacity

_DAY = 24 * 60  # minutes
_WEEK = 7 * _DAY
_MAX_VOLTAGE = 1000.0  # phase to neutral; beyond is no low-voltage connection
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ScheduleEntry:
    """A limit in force from `start` to `end` (local "HH:MM" of the site's timezone; end
    "24:00" is the midnight that ends the day, an end before the start runs past midnight) on
    the given weekdays (0 Monday .. 6 Sunday, the day the entry starts; empty: every day).
    `limit` is in the site's unit (amps per phase, one value or one per phase, for a site
    limited in A; kW for one in kW) unless `in_kw` says which: an operator may cap a kW site
    in amps at night. Inside an entry its limit replaces the base limit (higher at night,
    lower at peak)."""

    start: str
    end: str
    limit: float | tuple[float, ...]
    weekdays: tuple[int, ...] = ()
    in_kw: bool | None = None  # None: the site's unit


@dataclass(frozen=True)
class ExternalLimit:
    """A curtailment from outside (a grid operator, a building's energy management), in force
    until `until`: exactly one of amps per phase (one value or one per phase) or kW."""

    until: datetime
    limit_amps: float | tuple[float, ...] | None = None
    limit_kw: float | None = None


@dataclass(frozen=True, kw_only=True)
class SiteConnection:
    """A lot's electrical connection. Exactly one of `limit_amps` (per phase: one value for
    every phase, or one per phase) and `limit_kw` (converted to amps per phase with the voltage,
    phase to neutral, and the phases). A single-phase site loads L1 only. Invalid if any value
    is out of range (raised by the constructor, with what is wrong)."""

    phases: int
    voltage: float
    limit_amps: float | tuple[float, ...] | None = None
    limit_kw: float | None = None
    margin_amps: float = 0.0
    schedule: tuple[ScheduleEntry, ...] = ()
    external: ExternalLimit | None = None
    timezone: str = "UTC"
    # (start minute of the week, end minute, limit, in kW) of every schedule window, sorted
    _windows: tuple[tuple[int, int, float | tuple[float, ...], bool], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        _check_site(self)
        windows = _windows(self.schedule, self.limit_kw is not None)
        object.__setattr__(self, "_windows", windows)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def limit_at(self, now: datetime) -> tuple[float, float, float]:
        """The connection's limit per phase at `now`: the schedule's entry in force, else the
        base limit; then the lower of that and an external limit not yet expired."""
        limit = self._to_amps(*self._scheduled(now))
        external = self.external
        if external is not None and _aware(now) < _aware(external.until):
            cap = self._to_amps(
                external.limit_kw if external.limit_kw is not None else external.limit_amps,
                external.limit_kw is not None,
            )
            limit = (min(limit[0], cap[0]), min(limit[1], cap[1]), min(limit[2], cap[2]))
        return limit

    def capacity_at(
        self, now: datetime, other_load_amps: float | tuple[float, ...] = 0.0
    ) -> Capacity:
        """What the chargers may share: the limit in force - other load - margin, per phase,
        never negative. `other_load_amps`: one value for every phase or one per phase (L1..)."""
        return self._left(self.limit_at(now), other_load_amps)

    def lowest_capacity(
        self, now: datetime, other_load_amps: float | tuple[float, ...] = 0.0
    ) -> Capacity:
        """The least the site may leave the chargers from `now` on, whatever the time: the lowest
        of the base limit and every schedule entry, and of an external limit not yet expired,
        minus the other load and the margin (for the failsafe, which must hold at any time)."""
        limits = [self.base_amps(), self.limit_at(now)]  # now: with an external
        limits += [self._to_amps(limit, kw) for _, _, limit, kw in self._windows]
        lowest = [min(limit[i] for limit in limits) for i in range(3)]
        return self._left((lowest[0], lowest[1], lowest[2]), other_load_amps)

    def _left(
        self, limit: tuple[float, float, float], other_load_amps: float | tuple[float, ...]
    ) -> Capacity:
        other = _per_phase(other_load_amps, 3, "other_load_amps")
        per_phase = [
            max(0.0, limit[i] - other[i] - self.margin_amps) if i < self.phases else 0.0
            for i in range(3)
        ]
        return Capacity((per_phase[0], per_phase[1], per_phase[2]))

    def _scheduled(self, now: datetime) -> tuple[float | tuple[float, ...] | None, bool]:
        if self._windows:
            local = _aware(now).astimezone(self.zone)
            minute = local.weekday() * _DAY + local.hour * 60 + local.minute
            for start, end, limit, in_kw in self._windows:
                if start <= minute < end:
                    return limit, in_kw
        if self.limit_kw is not None:
            return self.limit_kw, True
        return self.limit_amps, False

    def base_amps(self) -> tuple[float, float, float]:
        """The base limit as amps on L1, L2, L3 (a phase the site lacks: 0)."""
        in_kw = self.limit_kw is not None
        return self._to_amps(self.limit_kw if in_kw else self.limit_amps, in_kw)

    def _to_amps(
        self, value: float | tuple[float, ...] | None, in_kw: bool
    ) -> tuple[float, float, float]:
        if in_kw:
            assert isinstance(value, int | float)
            amps = float(value) * 1000.0 / (self.voltage * self.phases)
            values: tuple[float, ...] = (amps,) * self.phases
        else:
            assert value is not None
            values = _per_phase(value, self.phases, "limit_amps")
        padded = (*values, 0.0, 0.0)
        return (padded[0], padded[1], padded[2])


def _aware(moment: datetime) -> datetime:
    # A naive time is taken as UTC, never as this machine's local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))


def _per_phase(value: float | tuple[float, ...], phases: int, name: str) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),) * phases
    if len(value) == 1:
        return (float(value[0]),) * phases
    if len(value) != phases:
        raise Invalid(f"{name} must have one value or one per phase ({phases}), not {len(value)}")
    return tuple(float(v) for v in value)


def _check_amount(value: float, name: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Invalid(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise Invalid(f"{name} must be a finite number >= 0, not {value}")


def _check_site(site: SiteConnection) -> None:
    if isinstance(site.phases, bool) or site.phases not in (1, 3):
        raise Invalid(f"phases must be 1 or 3, not {site.phases}")
    _check_amount(site.voltage, "voltage")
    if not 0 < site.voltage <= _MAX_VOLTAGE:
        raise Invalid(f"voltage must be over 0 and at most {_MAX_VOLTAGE:g} V, not {site.voltage}")
    if (site.limit_amps is None) == (site.limit_kw is None):
        raise Invalid("exactly one of limit_amps and limit_kw is needed")
    if site.limit_amps is not None:
        _check_limit(site.limit_amps, site.phases, "limit_amps")
    if site.limit_kw is not None:
        _check_amount(site.limit_kw, "limit_kw")
    _check_amount(site.margin_amps, "margin_amps")
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"timezone {site.timezone!r} is not a known time zone") from exc
    for index, entry in enumerate(site.schedule):
        _check_limit(entry.limit, site.phases, f"schedule[{index}].limit")
        if _in_kw(entry, site.limit_kw is not None) and not isinstance(entry.limit, int | float):
            raise Invalid(f"schedule[{index}].limit in kW is one number, not one per phase")
        for day in entry.weekdays:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise Invalid(f"schedule[{index}].weekdays: {day!r} is not 0 (Mon) .. 6 (Sun)")
    if site.external is not None:
        _check_external(site.external, site.phases)


def _check_limit(value: float | tuple[float, ...], phases: int, name: str) -> None:
    if isinstance(value, tuple):
        for amps in _per_phase(value, phases, name):
            _check_amount(amps, name)
    else:
        _check_amount(value, name)


def _check_external(external: ExternalLimit, phases: int) -> None:
    if (external.limit_amps is None) == (external.limit_kw is None):
        raise Invalid("an external limit needs exactly one of limit_amps and limit_kw")
    if external.limit_amps is not None:
        _check_limit(external.limit_amps, phases, "external limit_amps")
    if external.limit_kw is not None:
        _check_amount(external.limit_kw, "external limit_kw")


def _minute(text: str, name: str, *, end: bool) -> int:
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise Invalid(f'{name} must be "HH:MM", not {text!r}')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > _DAY or (value == _DAY and not end):
        raise Invalid(f"{name} {text!r} is not a time of day")
    return value


def _windows(
    schedule: tuple[ScheduleEntry, ...], site_in_kw: bool
) -> tuple[tuple[int, int, float | tuple[float, ...], bool], ...]:
    """Every entry as windows on the week's minutes (an entry past Sunday midnight is split),
    sorted; overlapping entries are refused, naming both."""
    found: list[tuple[int, int, int]] = []
    for index, entry in enumerate(schedule):
        start = _minute(entry.start, f"schedule[{index}].start", end=False)
        end = _minute(entry.end, f"schedule[{index}].end", end=True)
        if start == end:
            raise Invalid(f"schedule[{index}] starts and ends at the same time ({entry.start})")
        length = (end - start) % _DAY or _DAY
        for day in sorted(set(entry.weekdays)) or range(7):
            begin = day * _DAY + start
            finish = begin + length
            if finish > _WEEK:
                found.append((begin, _WEEK, index))
                found.append((0, finish - _WEEK, index))
            else:
                found.append((begin, finish, index))
    found.sort()
    for (_, end_a, a), (start_b, _, b) in pairwise(found):
        if start_b < end_a:
            weekday = _WEEKDAYS[start_b // _DAY]
            raise Invalid(f"schedule[{min(a, b)}] and schedule[{max(a, b)}] overlap on {weekday}")
    return tuple(
        (start, end, schedule[i].limit, _in_kw(schedule[i], site_in_kw)) for start, end, i in found
    )


def _in_kw(entry: ScheduleEntry, site_in_kw: bool) -> bool:
    return entry.in_kw if entry.in_kw is not None else site_in_kw


def expires_in(external: ExternalLimit, now: datetime) -> timedelta:
    """How long an external limit stays in force from `now` (zero once expired)."""
    return max(timedelta(0), _aware(external.until) - _aware(now))
