"""The values of energy allocation: what each charger wants, what the site can give, what was
decided and what the allocator remembers from one round to the next. Pure; times passed in.

Everything is in amps per phase (L1, L2, L3). A kW-limited site converts to amps per phase
(csms/domain/energy/site.py) before it reaches the allocator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chargepark.errors import Invalid

PHASES = (1, 2, 3)
# Loads are compared with the capacity to within this (float sums of tenths of amps are not
# exact); the allocator itself aims this far under the capacity so that it never needs it.
TOLERANCE_AMPS = 1e-6


@dataclass(frozen=True, kw_only=True)
class Demand:
    """One EVSE of the site and what its session wants now."""

    key: str  # "<charger_id>/<evse_id>"
    phases: tuple[int, ...]  # phases it loads: (1, 2, 3), or (2,) for a single-phase car on L2
    min_amps: float  # below this it cannot charge (6 A for AC): 0 < limit < min is never granted
    max_amps: float  # the most it can use: charger rating, car maximum, a limit the charger reports
    drawn_amps: float | None  # measured now, per phase (None: unknown)
    active: bool  # a session wants energy now (False: plugged or idle connector: granted 0)
    smart: bool = True  # False: not controllable: counted at max_amps, always
    energy_needed_wh: float | None = None
    departure: datetime | None = None
    started_at: datetime  # when the session started (ties, rotation)

    def __post_init__(self) -> None:
        # A wrong phase would silently load no phase at all (or the wrong one): refuse it here.
        if not self.phases or len(set(self.phases)) != len(self.phases):
            raise Invalid(f"{self.key}: phases must name each phase it loads once: {self.phases}")
        if any(phase not in PHASES for phase in self.phases):
            raise Invalid(f"{self.key}: phases are 1, 2 or 3, not {self.phases}")
        if not (self.min_amps >= 0 and self.max_amps >= 0):  # also refuses NaN
            raise Invalid(f"{self.key}: min_amps and max_amps must be >= 0")


@dataclass(frozen=True)
class Capacity:
    """Site limit - other load - margin, per phase, now (never negative)."""

    per_phase: tuple[float, float, float]


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The allocator's tuning. Carried inside RotationState, so a site can have its own."""

    # A session paused this long goes before the sessions that have been running, and a session
    # that got its turn keeps it this long: the pause rotates and no car waits indefinitely.
    rotation_period: timedelta = timedelta(minutes=15)
    # A car drawing this much below its limit ...
    underdraw_threshold_amps: float = 2.0
    # ... for this long is limited to its draw plus the headroom (must exceed the threshold, or a
    # released car would look as if it drew near its limit and get its share back at once).
    underdraw_hold: timedelta = timedelta(minutes=2)
    headroom_amps: float = 3.0
    # Urgency: energy needed / (voltage * phases * hours left), hours left from the departure,
    # or from started_at + default_stay when the departure is unknown, never under min_horizon.
    nominal_voltage: float = 230.0
    default_stay: timedelta = timedelta(hours=4)
    min_horizon: timedelta = timedelta(minutes=15)
    # Limits are granted in steps of this (round down), so that small changes of share do not
    # become a stream of profiles; 0 disables the rounding.
    resolution_amps: float = 0.1
    # A running session keeps last round's limit when the new one differs by less than this
    # (and it still fits): shares drift as departures near; each change is a profile to send.
    hysteresis_amps: float = 0.5


@dataclass(frozen=True, kw_only=True)
class RotationState:
    """What the allocator remembers between rounds. Immutable by convention: allocate never
    changes the mappings it is given, it returns a new state; pass the returned one next round.
    A fresh site starts from `RotationState()`."""

    policy: Policy = Policy()
    paused_since: Mapping[str, datetime] = field(default_factory=dict)  # active, granted 0
    running_since: Mapping[str, datetime] = field(default_factory=dict)  # active, granted > 0
    underdraw_since: Mapping[str, datetime] = field(default_factory=dict)  # drawing well below
    granted: Mapping[str, float] = field(default_factory=dict)  # last round's limits


@dataclass(frozen=True)
class Allocation:
    """The target limits (every demand's key; non-smart at max_amps, inactive 0), the active
    smart demands paused (granted 0) and the state for the next round."""

    limits: Mapping[str, float]
    paused: frozenset[str]
    state: RotationState


@dataclass(frozen=True)
class Transition:
    """How to go from the limits in force to a target without ever exceeding the capacity:
    send `lower` first and wait until they are accepted, then `raise_`. A lower that was not
    accepted keeps its old value in force; clip_raises gives the raises that still fit."""

    lower: Mapping[str, float]
    raise_: Mapping[str, float]
