"""Retry delays double from a base, never pass the cap, and survive endless outages."""

from hypothesis import given
from hypothesis import strategies as st

from chargepark.events.bus import backoff_delay


def test_delays_double_from_the_base_up_to_the_cap():
    assert [backoff_delay(a, base=0.5, cap=4) for a in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]


@given(attempt=st.integers(min_value=-5, max_value=10**9))
def test_any_attempt_number_gives_a_delay_within_bounds(attempt):
    assert 0.2 <= backoff_delay(attempt, base=0.2, cap=30) <= 30
