"""Properties of the allocator over many rounds of random sites, cars and limit changes:
the guarantee holds for every allocation and at every step of every transition (also when
chargers refuse some lowers), and no session starves."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.energy import (
    TOLERANCE_AMPS,
    Capacity,
    Demand,
    RotationState,
    allocate,
    clip_raises,
    load_per_phase,
    plan_transition,
    with_idle_reserve,
)
from csms.domain.energy.filling import water_fill
from tests.support.energy import T0, demand

THREE: tuple[tuple[int, ...], ...] = (
    (1, 2, 3),
    (1, 2, 3),
    (1,),
    (2,),
    (3,),
)  # three-phase cars twice as likely


def excess(
    capacity: Capacity, limits: Mapping[str, float], demands: Sequence[Demand]
) -> list[float]:
    """Per phase, how far the smart limits go beyond what the non-smart load leaves (<= 0 when
    the guarantee holds; where non-smart load alone is over, any smart limit is excess)."""
    smart = load_per_phase(limits, [d for d in demands if d.smart])
    fixed = load_per_phase({}, [d for d in demands if not d.smart])
    return [smart[p] - max(0.0, capacity.per_phase[p] - fixed[p]) for p in range(3)]


def assert_fits(capacity: Capacity, limits: Mapping[str, float], demands: list[Demand]) -> None:
    assert max(excess(capacity, limits, demands)) <= TOLERANCE_AMPS, (capacity, limits)


def new_evse(rnd: random.Random, index: int, single_phase_site: bool) -> Demand:
    minimum = rnd.choice((6.0, 6.0, 8.0, 10.0))
    return demand(
        f"cp{index}/1",
        phases=(1,) if single_phase_site else rnd.choice(THREE),
        min_amps=minimum,
        max_amps=rnd.choice((minimum, 16.0, 32.0, 63.0)),
        smart=rnd.random() > 0.15,
        active=False,
    )


def next_round(rnd: random.Random, evse: Demand, in_force: float, now_minutes: float) -> Demand:
    """A car arrives or leaves now and then; draws wander under the limit in force."""
    active = evse.active
    if rnd.random() < 0.15:
        active = not active
    if active and not evse.active:
        now = T0 + timedelta(minutes=now_minutes)
        return replace(
            evse,
            active=True,
            started_at=now,
            drawn_amps=None,
            energy_needed_wh=rnd.choice((None, rnd.uniform(0, 60_000))),
            departure=rnd.choice((None, now + timedelta(minutes=rnd.uniform(-30, 600)))),
        )
    drawn = rnd.choice((None, 0.0, in_force, rnd.uniform(0, in_force + 1)))
    return replace(evse, active=active, drawn_amps=drawn if active else 0.0)


def random_capacity(rnd: random.Random, single_phase_site: bool) -> Capacity:
    if single_phase_site:
        return Capacity((rnd.uniform(0, 120), 0.0, 0.0))
    base = rnd.uniform(0, 150)
    return Capacity(tuple(max(0.0, base + rnd.uniform(-20, 20)) for _ in range(3)))  # type: ignore[arg-type]


def check_allocation(
    capacity: Capacity, demands: list[Demand], limits: Mapping[str, float]
) -> None:
    assert_fits(capacity, limits, demands)
    for d in demands:
        amps = limits[d.key]
        if not d.smart:
            assert amps == d.max_amps
        elif not d.active:
            assert amps == 0.0
        else:
            assert amps == 0.0 or d.min_amps <= amps <= d.max_amps


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    evses=st.integers(1, 24),
    rounds=st.integers(1, 40),
    single_phase_site=st.booleans(),
    refusals=st.sampled_from((0.0, 0.0, 0.3, 0.8)),
)
def test_the_guarantee_holds_for_every_allocation_and_every_step_of_every_transition(
    seed: int, evses: int, rounds: int, single_phase_site: bool, refusals: float
) -> None:
    rnd = random.Random(seed)
    demands = [new_evse(rnd, i, single_phase_site) for i in range(evses)]
    state = RotationState()
    in_force: dict[str, float] = {}
    minutes = 0.0
    for _ in range(rounds):
        minutes += rnd.choice((0.1, 1.0, 5.0, 20.0))
        now = T0 + timedelta(minutes=minutes)
        demands = [next_round(rnd, d, in_force.get(d.key, 0.0), minutes) for d in demands]
        capacity = random_capacity(rnd, single_phase_site)
        allocation = allocate(capacity, demands, now, state)
        check_allocation(capacity, demands, allocation.limits)
        shuffled = rnd.sample(demands, len(demands))  # the order of the demands does not matter
        assert allocate(capacity, shuffled, now, state).limits == allocation.limits
        target = {d.key: allocation.limits[d.key] for d in demands if d.smart}
        transition = plan_transition(in_force, target)
        refused = {key for key in transition.lower if rnd.random() < refusals}
        accepted = {k: v for k, v in transition.lower.items() if k not in refused}
        after_lowers = {**in_force, **accepted}
        for key, new in target.items():  # lowered: min(old, new); the rest: as it was
            old = in_force.get(key)
            expected = old if key in refused or (old is not None and new > old) else new
            assert after_lowers.get(key) == expected
        raises = clip_raises(capacity, after_lowers, demands, transition.raise_)
        after_raises = {**after_lowers, **raises}
        if not refused:
            assert_fits(capacity, after_lowers, demands)
            assert raises == transition.raise_  # all lowers in force: every raise fits
            assert after_raises == {**in_force, **target}
        # raises never push a phase past its capacity, nor further past it than it was
        before = excess(capacity, after_lowers, demands)
        after = excess(capacity, after_raises, demands)
        for phase in range(3):
            assert after[phase] <= max(0.0, before[phase]) + TOLERANCE_AMPS
        for key, amps in raises.items():
            by_key = next(d for d in demands if d.key == key)
            assert amps > after_lowers.get(key, 0.0) and (amps >= by_key.min_amps)
        in_force, state = after_raises, allocation.state
        assert_fits(capacity, with_idle_reserve(capacity, demands, allocation.limits), demands)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cars=st.integers(2, 16),
    single_phase_site=st.booleans(),
)
def test_no_session_starves_when_each_minimum_fits_on_its_own(
    seed: int, cars: int, single_phase_site: bool
) -> None:
    rnd = random.Random(seed)
    demands = [
        replace(new_evse(rnd, i, single_phase_site), smart=True, active=True) for i in range(cars)
    ]
    fixed = [replace(new_evse(rnd, 100 + i, single_phase_site), smart=False) for i in range(2)]
    fixed_load = load_per_phase({}, fixed)
    # enough on every phase for the largest minimum, rarely for all of them
    floor = max(d.min_amps for d in demands)
    ceiling = floor + rnd.uniform(0, 3 * floor)
    state = RotationState()
    period_rounds = 15  # one round a minute, the default 15 minute rotation
    bound = period_rounds + cars * (period_rounds + 1) + 1
    last_granted = {d.key: -1 for d in demands}
    for minute in range(2 * bound):
        amps = [rnd.uniform(floor, ceiling) for _ in range(3)]
        if single_phase_site:
            amps[1] = amps[2] = 0.0
        capacity = Capacity(tuple(amps[p] + fixed_load[p] for p in range(3)))  # type: ignore[arg-type]
        current = [
            replace(d, drawn_amps=rnd.choice((None, 0.0, state.granted.get(d.key, 0.0))))
            for d in demands
        ]
        allocation = allocate(capacity, [*current, *fixed], T0 + timedelta(minutes=minute), state)
        assert_fits(capacity, allocation.limits, [*current, *fixed])
        for key in last_granted:
            if allocation.limits[key] > 0:
                last_granted[key] = minute
            assert minute - last_granted[key] <= bound, (key, minute, last_granted)
        state = allocation.state


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 30),
)
def test_water_filling_fits_the_room_and_leaves_none_a_demand_could_use(
    seed: int, count: int
) -> None:
    rnd = random.Random(seed)
    phases = [rnd.choice(THREE) for _ in range(count)]
    low = [rnd.choice((0.0, 6.0, 10.0)) for _ in range(count)]
    high = [lo + rnd.choice((0.0, rnd.uniform(0, 40))) for lo in low]
    weight = [rnd.uniform(0.01, 40) for _ in range(count)]
    lows = load_of(phases, low)
    room = [lows[p] + rnd.choice((0.0, rnd.uniform(0, 150))) for p in range(3)]
    result = water_fill(phases, low, high, weight, room)
    load = load_of(phases, result)
    for i in range(count):
        assert low[i] - 1e-9 <= result[i] <= high[i] + 1e-9
        if result[i] < high[i] - 1e-9:  # held back: one of its phases is full
            assert any(load[p - 1] >= room[p - 1] - 1e-6 for p in phases[i])
    assert all(load[p] <= room[p] + 1e-9 for p in range(3))


def load_of(phases: Sequence[tuple[int, ...]], amps: Sequence[float]) -> list[float]:
    load = [0.0, 0.0, 0.0]
    for on, value in zip(phases, amps, strict=True):
        for p in on:
            load[p - 1] += value
    return load
