from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from chargepark.errors import Invalid
from csms.domain.energy import (
    TOLERANCE_AMPS,
    Capacity,
    Demand,
    Policy,
    RotationState,
    allocate,
    load_per_phase,
)
from csms.domain.energy.allocator import urgency
from tests.support.energy import T0, demand


def fits(capacity: Capacity, limits: Mapping[str, float], demands: list[Demand]) -> bool:
    load = load_per_phase(limits, demands)
    return all(load[p] <= capacity.per_phase[p] + TOLERANCE_AMPS for p in range(3))


def test_everyone_gets_max_when_it_all_fits_and_idle_or_inactive_get_zero() -> None:
    demands = [
        demand("a/1"),
        demand("b/1", phases=(2,), max_amps=16.0),
        demand("c/1", active=False),
    ]
    result = allocate(Capacity((100.0, 100.0, 100.0)), demands, T0, RotationState())
    assert result.limits == {"a/1": 32.0, "b/1": 16.0, "c/1": 0.0}
    assert result.paused == frozenset()
    assert result.state.running_since == {"a/1": T0, "b/1": T0}


def test_sharing_is_weighted_by_urgency_and_capped_by_max() -> None:
    soon = T0 + timedelta(hours=1)
    demands = [
        demand("urgent/1", energy_needed_wh=20_000, departure=soon),  # 29 A needed
        demand("relaxed/1", energy_needed_wh=5_000, departure=T0 + timedelta(hours=8)),
        demand("small/1", max_amps=10.0),  # unknown need: wants its max
    ]
    capacity = Capacity((40.0, 40.0, 40.0))
    limits = allocate(capacity, demands, T0, RotationState()).limits
    assert limits["urgent/1"] > limits["small/1"] > limits["relaxed/1"] == 6.0
    assert sum(limits.values()) == pytest.approx(40.0, abs=0.3)
    assert fits(capacity, limits, demands)
    # more room: the urgent and the small one reach their max, the relaxed one gets the rest
    wide = allocate(Capacity((60.0, 60.0, 60.0)), demands, T0, RotationState()).limits
    assert wide == {"urgent/1": 32.0, "small/1": 10.0, "relaxed/1": 18.0}
    # the formula: energy / (V * phases * hours)
    assert urgency(demands[0], T0, Policy()) == pytest.approx(20_000 / (230 * 3 * 1))


def test_unknown_departure_uses_the_default_stay_and_the_horizon_has_a_floor() -> None:
    policy = Policy(default_stay=timedelta(hours=2))
    late = demand("a/1", energy_needed_wh=6_900, started_at=T0 - timedelta(hours=1))
    assert urgency(late, T0, policy) == pytest.approx(6_900 / (230 * 3 * 1))
    gone = demand("b/1", energy_needed_wh=6_900, departure=T0 - timedelta(hours=1))
    assert urgency(gone, T0, policy) == pytest.approx(6_900 / (230 * 3 * 0.25))


def test_single_phase_cars_load_only_their_phase() -> None:
    demands = [demand(f"l1-{i}/1", phases=(1,)) for i in range(3)] + [demand("l2/1", phases=(2,))]
    result = allocate(Capacity((16.0, 32.0, 0.0)), demands, T0, RotationState())
    assert result.limits == {"l1-0/1": 8.0, "l1-1/1": 8.0, "l1-2/1": 0.0, "l2/1": 32.0}
    assert result.paused == {"l1-2/1"}
    assert load_per_phase(result.limits, demands) == (16.0, 32.0, 0.0)


def test_non_smart_load_is_counted_at_max_and_pauses_the_smart_ones_it_crowds_out() -> None:
    demands = [
        demand("dumb/1", smart=False, max_amps=16.0, active=False),
        demand("a/1"),
        demand("b/1", phases=(3,)),
    ]
    result = allocate(Capacity((20.0, 20.0, 30.0)), demands, T0, RotationState())
    assert result.limits == {"dumb/1": 16.0, "a/1": 0.0, "b/1": 14.0}
    assert result.paused == {"a/1"}
    over = allocate(Capacity((10.0, 40.0, 40.0)), demands, T0, RotationState())
    assert over.limits == {"dumb/1": 16.0, "a/1": 0.0, "b/1": 24.0}


def test_minimums_that_fit_exactly_are_all_admitted() -> None:
    demands = [demand(f"c{i}/1") for i in range(5)]
    result = allocate(Capacity((30.0, 30.0, 30.0)), demands, T0, RotationState())
    assert set(result.limits.values()) == {6.0}
    assert result.paused == frozenset()


def test_the_pause_rotates_so_nobody_waits_indefinitely() -> None:
    demands = [demand(f"c{i}/1", energy_needed_wh=1_000.0 * (i + 1)) for i in range(3)]
    capacity = Capacity((6.0, 6.0, 6.0))  # one car at a time
    state = RotationState()
    granted_at: dict[str, list[int]] = {d.key: [] for d in demands}
    for minute in range(0, 120, 1):
        result = allocate(capacity, demands, T0 + timedelta(minutes=minute), state)
        state = result.state
        assert len(result.paused) == 2
        for key, amps in result.limits.items():
            if amps > 0:
                granted_at[key].append(minute)
    # the most urgent first; each car gets a 15 minute turn in the order it has waited
    assert granted_at["c2/1"][:15] == list(range(15))
    assert granted_at["c1/1"][0] == 15 and granted_at["c0/1"][0] == 30
    for minutes in granted_at.values():  # nobody waits more than two turns
        gaps = [b - a for a, b in zip([-1, *minutes], [*minutes, 120], strict=True)]
        assert max(gaps) <= 31


def test_a_session_keeps_its_turn_through_the_rotation_period() -> None:
    demands = [demand("a/1", energy_needed_wh=1_000.0), demand("b/1")]
    capacity = Capacity((6.0, 6.0, 6.0))
    first = allocate(capacity, demands, T0, RotationState())
    assert first.paused == {"a/1"}
    # a more urgent car arriving does not take the turn of one that just started
    arrival = [*demands, demand("c/1", energy_needed_wh=90_000.0)]
    second = allocate(capacity, arrival, T0 + timedelta(minutes=5), first.state)
    assert second.limits["b/1"] == 6.0 and second.paused == {"a/1", "c/1"}


def test_a_due_session_holds_its_phase_until_smaller_ones_finish_their_turn() -> None:
    # L1 has room for one 10 A car; 6 A cars would otherwise take every turn that frees up.
    big = demand("big/1", phases=(1,), min_amps=10.0)
    small = [demand(f"s{i}/1", phases=(1,), energy_needed_wh=50_000.0) for i in range(4)]
    capacity = Capacity((12.0, 0.0, 0.0))
    state = RotationState()
    first_grant = None
    for minute in range(0, 120):
        result = allocate(capacity, [big, *small], T0 + timedelta(minutes=minute), state)
        state = result.state
        assert load_per_phase(result.limits, [big, *small])[0] <= 12.0
        if result.limits["big/1"] > 0:
            first_grant = minute
            break
    assert first_grant is not None and first_grant <= 30


def test_under_draw_releases_the_share_and_gets_it_back_when_drawing_again() -> None:
    capacity = Capacity((40.0, 40.0, 40.0))
    policy = Policy(underdraw_hold=timedelta(minutes=2))
    state = RotationState(policy=policy)
    full = demand("full/1", drawn_amps=1.0)
    other = demand("other/1")
    first = allocate(capacity, [full, other], T0, state)
    assert first.limits == {"full/1": 20.0, "other/1": 20.0}
    held = allocate(capacity, [full, other], T0 + timedelta(minutes=1), first.state)
    assert held.limits["full/1"] == 20.0  # not yet: a car may take a while to ramp up
    assert held.state.underdraw_since == {"full/1": T0 + timedelta(minutes=1)}
    released = allocate(capacity, [full, other], T0 + timedelta(minutes=3), held.state)
    assert released.limits == {"full/1": 6.0, "other/1": 32.0}  # 1 A + 3 A headroom < min
    again = allocate(capacity, [full, other], T0 + timedelta(minutes=4), released.state)
    assert again.limits["full/1"] == 6.0
    drawing = demand("full/1", drawn_amps=5.5)
    back = allocate(capacity, [drawing, other], T0 + timedelta(minutes=5), again.state)
    assert back.limits == {"full/1": 20.0, "other/1": 20.0}
    assert back.state.underdraw_since == {}


def test_a_released_car_follows_its_draw_plus_headroom() -> None:
    state = RotationState(
        granted={"a/1": 20.0, "b/1": 20.0},
        running_since={"a/1": T0, "b/1": T0},
        underdraw_since={"a/1": T0 - timedelta(minutes=5)},
    )
    demands = [demand("a/1", drawn_amps=10.0), demand("b/1", max_amps=20.0)]
    result = allocate(Capacity((40.0, 40.0, 40.0)), demands, T0, state)
    assert result.limits == {"a/1": 13.0, "b/1": 20.0}


def test_the_result_is_the_same_for_the_same_input_and_the_state_is_not_changed() -> None:
    demands = [demand(f"c{i}/1", phases=((i % 3) + 1,)) for i in range(9)]
    state = RotationState(paused_since={"c0/1": T0 - timedelta(hours=1)})
    before = (dict(state.paused_since), dict(state.running_since))
    one = allocate(Capacity((12.0, 12.0, 12.0)), demands, T0, state)
    two = allocate(Capacity((12.0, 12.0, 12.0)), list(reversed(demands)), T0, state)
    assert one.limits == two.limits and one.paused == two.paused
    assert (dict(state.paused_since), dict(state.running_since)) == before
    assert "c0/1" not in one.paused  # paused an hour: due, goes first


def test_demands_that_would_break_the_count_are_refused() -> None:
    with pytest.raises(Invalid, match="phases are 1, 2 or 3"):
        demand("a/1", phases=(0,))
    with pytest.raises(Invalid, match="each phase it loads once"):
        demand("a/1", phases=(1, 1))
    with pytest.raises(Invalid, match="must be >= 0"):
        demand("a/1", max_amps=float("nan"))
    with pytest.raises(Invalid, match="its own key"):
        allocate(Capacity((10.0, 10.0, 10.0)), [demand("a/1"), demand("a/1")], T0, RotationState())


def test_small_drifts_of_share_keep_last_rounds_limits_and_real_changes_go_out() -> None:
    leaving = demand("leaving/1", energy_needed_wh=20_000, departure=T0 + timedelta(hours=1))
    demands = [leaving, demand("other/1")]
    capacity = Capacity((40.0, 40.0, 40.0))
    first = allocate(capacity, demands, T0, RotationState())
    assert first.limits == {"leaving/1": 19.0, "other/1": 20.9}
    later = T0 + timedelta(minutes=2)
    drifting = allocate(capacity, demands, later, RotationState(policy=Policy(hysteresis_amps=0)))
    assert drifting.limits["leaving/1"] > 19.0  # its departure nears: its share grows a little
    steady = allocate(capacity, demands, later, first.state)
    assert steady.limits == first.limits
    arrival = [*demands, demand("new/1")]
    changed = allocate(capacity, arrival, later, steady.state)
    assert changed.limits["leaving/1"] < 15.0 and changed.limits["new/1"] >= 6.0
    assert fits(capacity, changed.limits, arrival)
