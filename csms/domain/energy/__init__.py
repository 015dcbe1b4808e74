"""Energy allocation for a site (a lot's grid connection): pure domain, amps per phase.

docs/energy.md, "The allocator", explains the model and its guarantee.
"""

from csms.domain.energy.allocator import allocate
from csms.domain.energy.failsafe import with_idle_reserve
from csms.domain.energy.model import (
    PHASES,
    TOLERANCE_AMPS,
    Allocation,
    Capacity,
    Demand,
    Policy,
    RotationState,
    Transition,
)
from csms.domain.energy.site import ExternalLimit, ScheduleEntry, SiteConnection
from csms.domain.energy.transitions import clip_raises, load_per_phase, plan_transition

__all__ = [
    "PHASES",
    "TOLERANCE_AMPS",
    "Allocation",
    "Capacity",
    "Demand",
    "ExternalLimit",
    "Policy",
    "RotationState",
    "ScheduleEntry",
    "SiteConnection",
    "Transition",
    "allocate",
    "clip_raises",
    "load_per_phase",
    "plan_transition",
    "with_idle_reserve",
]
