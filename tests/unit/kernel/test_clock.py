"""The one reader of timestamps: UTC out, a precise NotATime for anything it cannot be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargepark.clock import NotATime, parse_utc


def test_a_time_with_an_offset_is_read_as_utc():
    assert parse_utc("2026-12-07T21:00:00+01:00") == datetime(2026, 12, 7, 20, tzinfo=UTC)
    assert parse_utc("2026-12-07T20:00:00z") == datetime(2026, 12, 7, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-12-07T20:00:00", "has no UTC offset"),
        ("yesterday", "is not an ISO-8601 timestamp"),
        # Valid ISO 8601, but outside the years a UTC datetime can hold once converted.
        ("0001-01-01T00:00:00+14:00", "beyond the years"),
        ("9999-12-31T23:59:59-14:00", "beyond the years"),
    ],
)
def test_what_is_not_a_utc_time_is_refused_with_why(text, why):
    with pytest.raises(NotATime, match=why):
        parse_utc(text)
