from __future__ import annotations

from csms.domain.energy import Capacity, load_per_phase, with_idle_reserve
from tests.support.energy import demand


def test_idle_chargers_get_their_minimum_out_of_what_the_allocation_left() -> None:
    demands = [
        demand("car/1"),
        demand("idle-a/1", active=False),
        demand("idle-b/1", active=False, phases=(2,)),
        demand("dumb/1", smart=False, max_amps=10.0),
    ]
    limits = with_idle_reserve(Capacity((50.0, 50.0, 50.0)), demands, {"car/1": 32.0})
    assert limits == {"car/1": 32.0, "idle-a/1": 6.0, "idle-b/1": 0.0}  # L2: 48 + 6 > 50
    assert load_per_phase(limits, demands) == (48.0, 48.0, 48.0)


def test_no_reserve_where_nothing_is_left_nor_for_a_charger_below_the_minimum() -> None:
    demands = [
        demand("car/1"),
        demand("idle/1", active=False),
        demand("weak/1", active=False, max_amps=4.0),
    ]
    full = with_idle_reserve(Capacity((32.0, 32.0, 32.0)), demands, {"car/1": 32.0})
    assert full == {"car/1": 32.0, "idle/1": 0.0, "weak/1": 0.0}
    roomy = with_idle_reserve(Capacity((80.0, 80.0, 80.0)), demands, {"car/1": 32.0})
    assert roomy == {"car/1": 32.0, "idle/1": 6.0, "weak/1": 0.0}
