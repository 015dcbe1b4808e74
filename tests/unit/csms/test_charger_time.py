"""Charger timestamps: unreadable ones refused naming their field, times that cannot have
happened replaced by ours and noted once per charger per hour (docs/ocpp-support.md)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from ocpp.exceptions import FormatViolationError

from csms.ocpp.adapter import SKEW_NOTE_EVERY_SEC, Adapter, stamped_time
from tests.conftest import T0, FixedClock

_ids = itertools.count()


def a_charger() -> SimpleNamespace:
    """What `within_clock` reads of its adapter."""
    return SimpleNamespace(id=f"CP-{next(_ids)}", clock=FixedClock(T0), _skews=[])


def within(charger: SimpleNamespace, at: datetime) -> datetime:
    return Adapter.within_clock(charger, at, at.isoformat(), "timestamp")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "stamp", ["2024-13-45T99:99:99Z", "not a date", "", "2026-11-27T10:00:00", "2026-11-27"]
)
def test_a_timestamp_without_a_readable_time_and_zone_is_a_format_violation(stamp):
    with pytest.raises(FormatViolationError) as refused:
        stamped_time(stamp, "meterValue.timestamp")
    assert refused.value.details["cause"].startswith("meterValue.timestamp: ")


def test_a_timestamp_keeps_the_offset_it_was_sent_with():
    at = stamped_time("2026-11-27T10:00:00+01:00")
    assert at == T0 and at.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    "at",
    [
        T0,
        T0 + timedelta(minutes=5),  # a clock a little ahead
        T0 - timedelta(days=40),  # an offline transaction sent late
        datetime(2020, 1, 1, tzinfo=UTC),
    ],
)
def test_a_time_that_can_have_happened_is_taken_as_the_charger_says(at):
    charger = a_charger()
    assert within(charger, at) == at
    assert charger._skews == []


@pytest.mark.parametrize(
    "at",
    [
        T0 + timedelta(minutes=5, seconds=1),
        datetime(2100, 1, 1, tzinfo=UTC),
        datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ],
)
def test_a_time_that_cannot_have_happened_is_ours_and_noted(at):
    charger = a_charger()
    assert within(charger, at) == T0
    [note] = charger._skews
    assert note["field"] == "timestamp"
    assert note["skew_sec"] == int((at - T0).total_seconds())


def test_a_skewed_clock_is_noted_once_per_charger_per_hour(monkeypatch):
    charger, other = a_charger(), a_charger()
    tick = [1000.0]
    monkeypatch.setattr("csms.ocpp.adapter.time.monotonic", lambda: tick[0])
    for _ in range(3):
        within(charger, datetime(2100, 1, 1, tzinfo=UTC))
    within(other, datetime(1970, 1, 1, tzinfo=UTC))
    assert (len(charger._skews), len(other._skews)) == (1, 1)
    tick[0] += SKEW_NOTE_EVERY_SEC
    within(charger, datetime(2100, 1, 1, tzinfo=UTC))
    assert len(charger._skews) == 2
