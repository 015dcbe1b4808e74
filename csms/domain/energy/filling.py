"""Weighted water-filling on three phases (progressive filling): every admitted demand starts
at its minimum; a common level t rises and each demand follows min(high, max(low, weight * t));
when a phase is full, the demands loading it stop where they are and the others go on rising.
The result is the weighted max-min fair share under the per-phase capacities. Pure.

Cost: one sort of each phase's breakpoints, then at most three walks over them (a phase fills
at most once), so O(n log n) for n demands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def water_fill(
    phases: Sequence[tuple[int, ...]],
    low: Sequence[float],
    high: Sequence[float],
    weight: Sequence[float],
    room: Sequence[float],
) -> list[float]:
    """Limits for demands i (loading `phases[i]`, between low[i] and high[i], weight[i] > 0)
    sharing `room` per phase (L1, L2, L3: the capacity left by what is not shared). The lows
    must fit (the caller admitted them); the result never loads a phase beyond its room."""
    count = len(low)
    on_phase: list[list[int]] = [[], [], []]
    for i in range(count):
        for phase in phases[i]:
            on_phase[phase - 1].append(i)
    events = [_breakpoints(members, low, high, weight) for members in on_phase]
    frozen: list[float | None] = [None] * count
    open_phases = {p for p in range(3) if on_phase[p]}
    while open_phases:
        levels = {
            p: _level_filling(on_phase[p], events[p], frozen, low, room[p]) for p in open_phases
        }
        level = min(levels.values())
        if math.isinf(level):
            break
        for p, found in levels.items():
            if found == level:
                open_phases.discard(p)
                for i in on_phase[p]:
                    if frozen[i] is None:
                        frozen[i] = min(high[i], max(low[i], weight[i] * level))
        open_phases = {p for p in open_phases if any(frozen[i] is None for i in on_phase[p])}
    return [high[i] if value is None else value for i, value in enumerate(frozen)]


def _breakpoints(
    members: list[int], low: Sequence[float], high: Sequence[float], weight: Sequence[float]
) -> list[tuple[float, float, int]]:
    """(level, change of slope, demand) where a demand starts rising (level low/weight) and
    where it reaches its high (high/weight), sorted by level."""
    found: list[tuple[float, float, int]] = []
    for i in members:
        if high[i] > low[i]:
            w = weight[i]
            found.append((low[i] / w, w, i))
            found.append((high[i] / w, -w, i))
    found.sort()
    return found


def _level_filling(
    members: list[int],
    events: list[tuple[float, float, int]],
    frozen: list[float | None],
    low: Sequence[float],
    target: float,
) -> float:
    """The lowest level at which the phase's load (frozen demands where they stopped, the
    others following the level) reaches `target`; infinity if it never does."""
    load = 0.0
    for i in members:
        value = frozen[i]
        load += low[i] if value is None else value
    if load >= target:
        return 0.0
    level = 0.0
    slope = 0.0
    for at, change, i in events:
        if frozen[i] is not None:
            continue
        reached = load + slope * (at - level)
        if reached >= target and slope > 0:
            return level + (target - load) / slope
        load, level = reached, at
        slope += change
    return math.inf
