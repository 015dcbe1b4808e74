from __future__ import annotations

from csms.domain.energy import Capacity, clip_raises, load_per_phase, plan_transition
from tests.support.energy import demand


def test_load_counts_each_phase_a_demand_loads_and_non_smart_at_max() -> None:
    demands = [
        demand("three/1"),
        demand("l2/1", phases=(2,)),
        demand("dumb/1", phases=(3,), smart=False, max_amps=16.0, active=False),
        demand("nothing/1"),
    ]
    limits = {"three/1": 10.0, "l2/1": 7.0, "dumb/1": 0.0, "gone/1": 99.0}
    assert load_per_phase(limits, demands) == (10.0, 17.0, 26.0)


def test_a_transition_lowers_first_and_raises_after() -> None:
    in_force = {"a/1": 16.0, "b/1": 6.0, "c/1": 10.0, "d/1": 8.0}
    target = {"a/1": 10.0, "b/1": 12.0, "c/1": 10.0, "new/1": 6.0}
    transition = plan_transition(in_force, target)
    assert transition.lower == {"a/1": 10.0, "new/1": 6.0}  # nothing known in force: lower
    assert transition.raise_ == {"b/1": 12.0}


def test_raises_are_clipped_to_what_fits_when_a_lower_was_refused() -> None:
    demands = [demand("a/1"), demand("b/1"), demand("c/1", phases=(1,))]
    capacity = Capacity((32.0, 32.0, 32.0))
    # a/1 should have gone 20 -> 10 but refused: 20 stays in force
    in_force = {"a/1": 20.0, "b/1": 6.0, "c/1": 0.0}
    raises = {"b/1": 16.0, "c/1": 6.0}
    granted = clip_raises(capacity, in_force, demands, raises)
    # c/1 starts first (paused, it cannot charge at all) and takes the last 6 A of L1,
    # so nothing is left for b/1, a three-phase car
    assert granted == {"c/1": 6.0}
    after = {**in_force, **granted}
    assert all(load <= 32.0 for load in load_per_phase(after, demands))


def test_a_raise_that_does_not_fit_whole_is_raised_as_far_as_it_fits() -> None:
    demands = [demand("a/1"), demand("b/1", phases=(2,))]
    in_force = {"a/1": 10.0, "b/1": 10.0}
    raises = {"a/1": 32.0, "b/1": 16.0}
    # in key order: a/1 goes as far as L2 allows (10 A more), nothing is left for b/1
    assert clip_raises(Capacity((24.35, 30.0, 30.0)), in_force, demands, raises) == {"a/1": 20.0}
    # L1 the tightest: a/1 to 24.3 (rounded down to 0.1 A), b/1 whole
    granted = clip_raises(Capacity((24.35, 50.0, 40.0)), in_force, demands, raises)
    assert granted == {"a/1": 24.3, "b/1": 16.0}


def test_a_paused_session_is_never_raised_below_its_minimum_and_non_smart_are_dropped() -> None:
    demands = [demand("a/1"), demand("dumb/1", smart=False, max_amps=28.0)]
    in_force = {"a/1": 0.0}
    raises = {"a/1": 6.0, "dumb/1": 32.0}
    assert clip_raises(Capacity((32.0, 32.0, 32.0)), in_force, demands, raises) == {}
