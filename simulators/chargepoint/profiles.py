"""The charger's charging profiles and its composite schedule, as OCPP defines them (1.6
Smart Charging, 2.0.1 functional block K). Pure: every time is passed in.

- Profiles are kept per EVSE (0: the whole charger) with a purpose, a stack level, a kind
  (Absolute, Recurring daily/weekly, Relative), a validity window and one schedule.
- Installing replaces a profile with the same id, or with the same purpose, stack level and
  EVSE (and for a TxProfile, the same transaction). A profile that breaks the charger's limits
  (stack level, rate unit, periods, profiles installed) is rejected.
- The limit at an instant: per purpose, the active profile with the highest stack level wins
  (an EVSE's own profile beats the charger-wide one at the same level); a TxProfile of the
  running transaction overrides the TxDefaultProfile; the result is the minimum with the
  charger maximum and with an external limit, if one is set.
- Limits in W become A per phase through the voltage and the number of phases (the period's,
  else the charger's), and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

STATION_MAX = "ChargingStationMaxProfile"  # 1.6: ChargePointMaxProfile
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (STATION_MAX, TX_DEFAULT, TX)
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCY = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def purpose_of(wire: str) -> str:
    """The version-free purpose of a 1.6 or 2.0.1 spelling."""
    return STATION_MAX if wire == "ChargePointMaxProfile" else wire


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the schedule's start
    limit: float  # in the profile's unit
    phases: int | None = None


@dataclass(frozen=True, kw_only=True)
class Profile:
    id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str  # "A" (per phase) or "W"
    periods: tuple[Period, ...]
    evse: int = 0
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    start_schedule: datetime | None = None
    duration: int | None = None
    min_rate: float | None = None
    transaction_id: str | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False)  # as it was sent


@dataclass(frozen=True)
class Limits:
    """What the charger supports (1.6 configuration keys, 2.0.1 SmartChargingCtrlr)."""

    max_stack_level: int = 10
    units: tuple[str, ...] = ("A", "W")
    max_periods: int = 24
    max_profiles: int = 20


@dataclass(frozen=True)
class Electrical:
    voltage: float = 230.0
    phases: int = 3

    def to_amps(self, value: float, unit: str, phases: int | None) -> float:
        if unit == "A":
            return value
        return value / (self.voltage * (phases or self.phases))

    def from_amps(self, amps: float, unit: str, phases: int | None) -> float:
        if unit == "A":
            return amps
        return amps * self.voltage * (phases or self.phases)


@dataclass(frozen=True)
class Limit:
    """A limit in force: amps per phase, and the phases it allows (None: the charger's)."""

    amps: float
    phases: int | None = None


def schedule_start(p: Profile, at: datetime, tx_start: datetime | None) -> datetime | None:
    """When the occurrence of `p`'s schedule that covers `at` started (None: not started)."""
    if p.kind == "Relative":
        return tx_start if tx_start is not None else at  # no transaction: its first period
    base = p.start_schedule or p.valid_from or tx_start or EPOCH
    if p.kind == "Recurring":
        every = RECURRENCY.get(p.recurrency or "Daily", RECURRENCY["Daily"])
        if at >= base:
            return base + every * ((at - base) // every)
        return None
    return base


def limit_of(p: Profile, at: datetime, tx_start: datetime | None) -> Period | None:
    """The period of `p` in force at `at` (None: `p` says nothing then)."""
    if p.valid_from is not None and at < p.valid_from:
        return None
    if p.valid_to is not None and at >= p.valid_to:
        return None
    start = schedule_start(p, at, tx_start)
    if start is None or at < start:
        return None
    elapsed = (at - start).total_seconds()
    if p.duration is not None and elapsed >= p.duration:
        return None
    found = None
    for period in p.periods:
        if period.start <= elapsed:
            found = period
    return found


def check(p: Profile, limits: Limits) -> str | None:
    """Why the charger refuses `p` by its shape and limits (None: it fits)."""
    if p.purpose not in PURPOSES or p.kind not in KINDS:
        return "unknown purpose or kind"
    if p.stack_level < 0 or p.stack_level > limits.max_stack_level:
        return f"stack level above {limits.max_stack_level}"
    if p.unit not in limits.units:
        return f"rate unit {p.unit} not supported"
    if not p.periods or len(p.periods) > limits.max_periods:
        return f"1 to {limits.max_periods} periods"
    starts = [x.start for x in p.periods]
    if starts[0] != 0 or starts != sorted(set(starts)):
        return "periods must start at 0 and ascend"
    if any(x.limit < 0 for x in p.periods):
        return "negative limit"
    if p.purpose == STATION_MAX and p.evse != 0:
        return "a charger maximum applies to EVSE 0"
    if p.purpose == TX and p.evse == 0:
        return "a TxProfile needs an EVSE"
    if p.kind == "Recurring" and p.start_schedule is None:
        return "a recurring profile needs startSchedule"
    return None


def lowest(*limits: Limit | None) -> Limit | None:
    found = [x for x in limits if x is not None]
    return min(found, key=lambda x: x.amps) if found else None


class ProfileStore:
    def __init__(self, limits: Limits | None = None, electrical: Electrical | None = None) -> None:
        self.limits = limits or Limits()
        self.electrical = electrical or Electrical()
        self.profiles: dict[int, Profile] = {}
        self.external: dict[int, Limit] = {}  # per EVSE (0: the charger): an outside limit

    def install(self, p: Profile) -> str | None:
        """Keep `p`, replacing what it replaces; why not (None: installed)."""
        problem = check(p, self.limits)
        if problem is not None:
            return problem
        kept = {
            pid: q
            for pid, q in self.profiles.items()
            if pid != p.id
            and not (
                q.purpose == p.purpose
                and q.stack_level == p.stack_level
                and q.evse == p.evse
                and (p.purpose != TX or q.transaction_id == p.transaction_id)
            )
        }
        if len(kept) + 1 > self.limits.max_profiles:
            return f"more than {self.limits.max_profiles} profiles installed"
        kept[p.id] = p
        self.profiles = kept
        return None

    def clear(
        self,
        *,
        profile_id: int | None = None,
        evse: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[Profile]:
        """Remove the profiles matching every criterion given (an id alone: that one)."""
        gone = [
            p
            for p in self.profiles.values()
            if (profile_id is None or p.id == profile_id)
            and (evse is None or p.evse == evse)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]
        for p in gone:
            del self.profiles[p.id]
        return gone

    def select(
        self,
        *,
        evse: int | None = None,
        ids: list[int] | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[Profile]:
        return [
            p
            for p in sorted(self.profiles.values(), key=lambda q: (q.evse, q.id))
            if (evse is None or p.evse == evse)
            and (not ids or p.id in ids)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]

    def transaction_ended(self, evse: int) -> list[Profile]:
        """A TxProfile lives as long as its transaction."""
        return self.clear(evse=evse, purpose=TX)

    def bind(self, evse: int, transaction_id: str) -> None:
        """A TxProfile sent with a remote start learns its transaction once it started."""
        for p in list(self.profiles.values()):
            if p.evse == evse and p.purpose == TX and p.transaction_id is None:
                self.profiles[p.id] = replace(p, transaction_id=transaction_id)

    # --- the composite schedule ---------------------------------------------------------

    def _winner(
        self, purpose: str, evse: int, at: datetime, tx_start: datetime | None
    ) -> Limit | None:
        best: tuple[int, int, Limit] | None = None
        for p in self.profiles.values():
            if p.purpose != purpose or p.evse not in (0, evse):
                continue
            if purpose == TX and tx_start is None:
                continue
            period = limit_of(p, at, tx_start)
            if period is None:
                continue
            amps = self.electrical.to_amps(period.limit, p.unit, period.phases)
            rank = (p.stack_level, 1 if p.evse == evse else 0)
            if best is None or rank > best[:2]:
                best = (*rank, Limit(amps, period.phases))
        return None if best is None else best[2]

    def limit_at(self, evse: int, at: datetime, tx_start: datetime | None = None) -> Limit | None:
        """The limit on `evse` at `at` (None: no limit); `tx_start` when a transaction runs."""
        return lowest(*self.parts_at(evse, at, tx_start))

    def parts_at(
        self, evse: int, at: datetime, tx_start: datetime | None = None
    ) -> tuple[Limit | None, Limit | None]:
        """(the EVSE's own limit, the whole charger's limit) at `at`: a charger with several
        EVSEs shares the second between them."""
        own = self._winner(TX, evse, at, tx_start) if evse else None
        if own is None and evse:
            own = self._winner(TX_DEFAULT, evse, at, tx_start)
        own = lowest(own, self.external.get(evse) if evse else None)
        station = lowest(self._winner(STATION_MAX, 0, at, tx_start), self.external.get(0))
        return own, station

    def _edges(self, start: datetime, end: datetime, tx_start: datetime | None) -> list[datetime]:
        """Every instant in [start, end) at which some profile's limit may change."""
        edges = {start}
        for p in self.profiles.values():
            for t in (p.valid_from, p.valid_to):
                if t is not None:
                    edges.add(t)
            occurrences: list[datetime] = []
            first = schedule_start(p, start, tx_start)
            if p.kind == "Recurring" and p.start_schedule is not None:
                every = RECURRENCY.get(p.recurrency or "Daily", RECURRENCY["Daily"])
                t = first if first is not None else p.start_schedule
                while t < end:
                    occurrences.append(t)
                    t += every
            elif first is not None:
                occurrences.append(first)
            for base in occurrences:
                edges.update(base + timedelta(seconds=x.start) for x in p.periods)
                if p.duration is not None:
                    edges.add(base + timedelta(seconds=p.duration))
        return sorted(t for t in edges if start <= t < end)

    def composite(
        self,
        evse: int,
        start: datetime,
        duration: int,
        unit: str = "A",
        tx_start: datetime | None = None,
        default: Limit | None = None,
    ) -> list[Period]:
        """The composite schedule from `start` for `duration` seconds, in `unit`: periods
        with the limit in force; where no profile limits, `default` (the charger's rating)."""
        end = start + timedelta(seconds=duration)
        periods: list[Period] = []
        for t in self._edges(start, end, tx_start):
            lim = self.limit_at(evse, t, tx_start) or default
            if lim is None:
                continue
            value = round(self.electrical.from_amps(lim.amps, unit, lim.phases), 1)
            offset = int((t - start).total_seconds())
            if periods and periods[-1].limit == value and periods[-1].phases == lim.phases:
                continue
            if periods and periods[-1].start == offset:
                periods.pop()
            periods.append(Period(offset, value, lim.phases))
        return periods

    def next_change(
        self, evse: int, at: datetime, horizon: int, tx_start: datetime | None
    ) -> datetime | None:
        """The next instant after `at` (within `horizon` s) at which the limit may change."""
        later = [t for t in self._edges(at, at + timedelta(seconds=horizon), tx_start) if t > at]
        return later[0] if later else None
