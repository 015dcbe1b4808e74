"""Timestamps in query parameters and bodies (chargepark.http.query.parse_time): read by the one
reader (chargepark.clock.parse_utc), refused as a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargepark.errors import Invalid
from chargepark.http.query import parse_time


@pytest.mark.parametrize(
    "raw",
    ["2026-03-01T12:00:00Z", "2026-03-01T13:00:00+01:00", "2026-03-01T12:00:00.000+00:00"],
)
def test_a_time_with_its_offset_is_read_as_utc(raw):
    ts = parse_time(raw, "from")
    assert ts == datetime(2026, 3, 1, 12, tzinfo=UTC) and ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("yesterday", "from 'yesterday' is not an ISO-8601 timestamp"),
        ("2026-03-01T12:00:00", "from '2026-03-01T12:00:00' has no UTC offset (add Z or +hh:mm)"),
        ("9" * 100, f"from {'9' * 64!r} is not an ISO-8601 timestamp"),
    ],
    ids=["not-a-time", "no-offset", "long"],
)
def test_anything_else_is_a_422_naming_the_parameter(raw, message):
    with pytest.raises(Invalid) as refused:
        parse_time(raw, "from")
    assert refused.value.detail == message and refused.value.status == 422
