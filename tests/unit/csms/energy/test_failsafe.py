from __future__ import annotations

from csms.domain.energy import Capacity, failsafe_limits, load_per_phase
from tests.support.energy import demand


def test_failsafe_shares_are_equal_when_every_minimum_fits() -> None:
    demands = [
        demand("a/1", active=False),
        demand("b/1"),
        demand("c/1", phases=(2,), max_amps=8.0),
        demand("dumb/1", smart=False, max_amps=10.0),
    ]
    limits = failsafe_limits(Capacity((50.0, 50.0, 50.0)), demands)
    assert limits == {"a/1": 16.0, "b/1": 16.0, "c/1": 8.0}  # L2 full, the car on it at max
    assert load_per_phase(limits, demands) == (42.0, 50.0, 42.0)


def test_when_minimums_do_not_all_fit_the_active_ones_get_theirs_and_the_rest_zero() -> None:
    demands = [demand(f"idle{i}/1", active=False) for i in range(3)] + [demand("car/1")]
    limits = failsafe_limits(Capacity((13.0, 13.0, 13.0)), demands)
    assert limits == {"car/1": 6.5, "idle0/1": 6.5, "idle1/1": 0.0, "idle2/1": 0.0}
