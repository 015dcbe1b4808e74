"""Sharing a site's capacity among its charging sessions. Pure; times passed in.

One round (docs/energy.md, "The allocator"):
1. Non-smart demands are counted at max_amps on their phases; inactive smart ones get 0.
2. A smart demand that has drawn well below its limit for the hold time is capped at its draw
   plus the headroom (under-draw release); it gets its share back once it draws near it again.
3. Demands are ranked (rotation first, then urgency) and admitted at their minimum in that
   order while the minimums fit on every phase; the others are paused (0).
4. What is left is shared among the admitted by urgency-weighted water-filling (filling.py).
5. Limits are rounded down to the policy's resolution, and a running session whose limit moved
   by less than the hysteresis keeps last round's where that fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from chargepark.errors import Invalid
from csms.domain.energy.filling import water_fill
from csms.domain.energy.model import Allocation, Capacity, Demand, Policy, RotationState

# Nobody's weight is below this (A), so that a car with little or nothing left to charge still
# gets a share of what nobody else can use.
URGENCY_FLOOR_AMPS = 0.5
# Minimums that fit to within this (float sums) are admitted: 2 x 6 A fit in 12 A.
_FIT_SLACK = 1e-9

# A share within this many steps under a step is rounded to it (float sums)
_SNAP = 1e-6
# What _settle leaves above a phase's room: far below TOLERANCE_AMPS
_SETTLE_SLACK = 1e-7

# Ranks (lower goes first)
_TURN = 0  # running for less than the rotation period: keeps its turn
_DUE = 1  # paused for at least the rotation period: next in line, longest waiting first
_OTHERS = 2  # by urgency, most urgent first


def urgency(demand: Demand, now: datetime, policy: Policy) -> float:
    """The average current per phase (A) the demand needs to get its energy by its departure:
    energy_needed_wh / (nominal_voltage * phases * hours left). Hours left run to the departure,
    or to started_at + default_stay when it is unknown, and are never less than min_horizon.
    Unknown energy: the car takes all it can (max_amps)."""
    if demand.energy_needed_wh is None:
        return demand.max_amps
    departure = demand.departure or demand.started_at + policy.default_stay
    seconds = max((departure - now).total_seconds(), policy.min_horizon.total_seconds())
    hours = seconds / 3600.0
    return max(0.0, demand.energy_needed_wh) / (policy.nominal_voltage * len(demand.phases) * hours)


def allocate(
    capacity: Capacity, demands: Sequence[Demand], now: datetime, state: RotationState
) -> Allocation:
    """Limits for every demand such that, on each phase, the limits of the demands loading it
    (non-smart at max_amps) sum to at most the capacity (every smart demand is paused on a phase
    where the non-smart load alone exceeds it). Returns the next round's state with them."""
    policy = state.policy
    if len({d.key for d in demands}) != len(demands):
        raise Invalid("each demand must have its own key (one per EVSE)")
    limits: dict[str, float] = {}
    room = list(capacity.per_phase)
    candidates: list[Demand] = []
    for demand in demands:
        if not demand.smart:
            limits[demand.key] = demand.max_amps
            for phase in demand.phases:
                room[phase - 1] -= demand.max_amps
        elif demand.active and demand.max_amps > 0 and demand.max_amps >= demand.min_amps:
            candidates.append(demand)
        else:
            limits[demand.key] = 0.0
    weights = {d.key: max(urgency(d, now, policy), URGENCY_FLOOR_AMPS) for d in candidates}
    underdraw, ceilings = _underdraw(candidates, now, state)
    admitted = _admit(_ranked(candidates, weights, now, state), room)
    granted = water_fill(
        [d.phases for d in admitted],
        [d.min_amps for d in admitted],
        [ceilings.get(d.key, d.max_amps) for d in admitted],
        [weights[d.key] for d in admitted],
        room,
    )
    steps = _steps_per_amp(policy)
    for demand, amps in zip(admitted, granted, strict=True):
        limits[demand.key] = _round_down(amps, demand, steps)
    _settle(admitted, limits, room, steps)
    _keep_steady(admitted, limits, room, ceilings, state)
    paused = frozenset(d.key for d in candidates if d.key not in limits)
    for key in paused:
        limits[key] = 0.0
    return Allocation(
        limits=limits,
        paused=paused,
        state=_next_state(state, candidates, limits, underdraw, now),
    )


def _underdraw(
    candidates: Sequence[Demand], now: datetime, state: RotationState
) -> tuple[dict[str, datetime], dict[str, float]]:
    """Who draws well below last round's limit (and since when), and the cap of those that
    have done so for the hold time: their draw plus the headroom, within [min, max]."""
    policy = state.policy
    since: dict[str, datetime] = {}
    ceilings: dict[str, float] = {}
    for demand in candidates:
        drawn = demand.drawn_amps
        before = state.granted.get(demand.key, 0.0)
        if drawn is None or before <= 0 or drawn >= before - policy.underdraw_threshold_amps:
            continue
        started = state.underdraw_since.get(demand.key, now)
        since[demand.key] = started
        if now - started >= policy.underdraw_hold:
            ceiling = min(demand.max_amps, max(0.0, drawn) + policy.headroom_amps)
            ceilings[demand.key] = max(demand.min_amps, ceiling)
    return since, ceilings


def _ranked(
    candidates: Sequence[Demand], weights: dict[str, float], now: datetime, state: RotationState
) -> list[tuple[Demand, bool]]:
    """The demands in the order they are admitted, each with whether it is due (paused for the
    rotation period). A running session keeps its turn for the rotation period; then the
    sessions paused that long go first, longest waiting (then most urgent) first; then the rest
    by urgency. started_at and the key break ties, so the same input gives the same order."""
    period = state.policy.rotation_period
    ranked: list[tuple[tuple[int, float, float, float, str], Demand, bool]] = []
    for demand in candidates:
        running = state.running_since.get(demand.key)
        paused = state.paused_since.get(demand.key)
        started = demand.started_at.timestamp()
        if running is not None and now - running < period:
            rank = (_TURN, -weights[demand.key], 0.0, started, demand.key)
        elif paused is not None and now - paused >= period:
            rank = (_DUE, paused.timestamp(), -weights[demand.key], started, demand.key)
        else:
            rank = (_OTHERS, -weights[demand.key], 0.0, started, demand.key)
        ranked.append((rank, demand, rank[0] == _DUE))
    ranked.sort(key=lambda entry: entry[0])
    return [(demand, due) for _, demand, due in ranked]


def _admit(ranked: list[tuple[Demand, bool]], room: list[float]) -> list[Demand]:
    """Admit at their minimum, in order, those that fit next to the ones before. A due session
    that does not fit (although its minimum fits the phases alone) holds its phases: nobody
    after it starts there, so the running turns end and it gets in; without this, smaller
    sessions could take every freed slot before it and it would wait indefinitely."""
    used = [0.0, 0.0, 0.0]
    held = [False, False, False]
    admitted: list[Demand] = []
    for demand, due in ranked:
        need = demand.min_amps
        if any(held[p - 1] for p in demand.phases):
            continue
        if all(used[p - 1] + need <= room[p - 1] + _FIT_SLACK for p in demand.phases):
            admitted.append(demand)
            for phase in demand.phases:
                used[phase - 1] += need
        elif due and all(need <= room[p - 1] + _FIT_SLACK for p in demand.phases):
            for phase in demand.phases:
                held[phase - 1] = True
    return admitted


def _steps_per_amp(policy: Policy) -> int:
    resolution = policy.resolution_amps
    return max(1, round(1.0 / resolution)) if resolution > 0 else 0


def _round_down(amps: float, demand: Demand, steps: int) -> float:
    """Down to the resolution, never under the minimum. A share a hair under a step (float
    sums: 19.9999999 of 40 A shared by two) counts as the step; _settle takes back the hair."""
    if steps:
        amps = math.floor(amps * steps + _SNAP) / steps
    return float(min(demand.max_amps, max(demand.min_amps, amps)))


def _settle(
    admitted: list[Demand], limits: dict[str, float], room: list[float], steps: int
) -> None:
    """Where the rounded limits end above a phase's room (only ever by float hairs), lower the
    last admitted above their minimum by a step until they fit."""
    step = 1.0 / steps if steps else 0.0
    for phase in (1, 2, 3):
        on_phase = [d for d in admitted if phase in d.phases]
        excess = sum(limits[d.key] for d in on_phase) - room[phase - 1]
        for demand in reversed(on_phase):
            if excess <= _SETTLE_SLACK:
                break
            lowered = max(demand.min_amps, limits[demand.key] - max(step, excess))
            excess -= limits[demand.key] - lowered
            limits[demand.key] = lowered


def _keep_steady(
    admitted: list[Demand],
    limits: dict[str, float],
    room: list[float],
    ceilings: dict[str, float],
    state: RotationState,
) -> None:
    """A running session whose new limit differs from last round's by less than the policy's
    hysteresis keeps last round's, so that shares drifting with time do not become a stream of
    profiles. Keeping a lower one always fits; a higher one only where its phases have room
    (checked in admission order), so the guarantee holds as before."""
    hysteresis = state.policy.hysteresis_amps
    if hysteresis <= 0:
        return
    load = [0.0, 0.0, 0.0]
    higher: list[tuple[Demand, float]] = []
    for demand in admitted:
        new = limits[demand.key]
        before = state.granted.get(demand.key, 0.0)
        keep = before >= demand.min_amps and abs(new - before) < hysteresis
        if keep and before < new:
            limits[demand.key] = new = before
        elif keep and before <= ceilings.get(demand.key, demand.max_amps):
            higher.append((demand, before))
        for phase in demand.phases:
            load[phase - 1] += new
    for demand, before in higher:
        more = before - limits[demand.key]
        if all(load[p - 1] + more <= room[p - 1] for p in demand.phases):
            limits[demand.key] = before
            for phase in demand.phases:
                load[phase - 1] += more


def _next_state(
    state: RotationState,
    candidates: Sequence[Demand],
    limits: dict[str, float],
    underdraw: dict[str, datetime],
    now: datetime,
) -> RotationState:
    """Who runs and who is paused since when; keys no longer active are forgotten, so a new
    session on the same EVSE starts afresh."""
    running: dict[str, datetime] = {}
    paused: dict[str, datetime] = {}
    granted: dict[str, float] = {}
    for demand in candidates:
        key = demand.key
        amps = limits[key]
        granted[key] = amps
        if amps > 0:
            resumed = key in state.paused_since
            running[key] = now if resumed else state.running_since.get(key, now)
        else:
            paused[key] = state.paused_since.get(key, now)
    return RotationState(
        policy=state.policy,
        paused_since=paused,
        running_since=running,
        underdraw_since={k: v for k, v in underdraw.items() if limits[k] > 0},
        granted=granted,
    )
