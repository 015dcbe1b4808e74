"""Occupancy over time from park/leave event times: time-weighted means and peaks per bucket."""

from __future__ import annotations

from datetime import timedelta

from parking.queries import OccupancySeries
from tests.conftest import T0

HOUR = 3600


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def test_means_are_time_weighted_and_peaks_count_every_vehicle_present():
    series = OccupancySeries(T0, at(180), HOUR, start=1)  # one car parked before the window
    series.add(at(30), +1)  # 2 from 0:30
    series.add(at(90), +1)  # 3 from 1:30
    series.add(at(120), -1)  # 2 from 2:00 exactly: the third hour never saw 3
    series.add(at(150), -2)  # 0 from 2:30
    buckets = series.buckets(in_service=4)
    assert [b["mean_occupied"] for b in buckets] == [1.5, 2.5, 1.0]
    assert [b["peak_occupied"] for b in buckets] == [2, 3, 2]
    assert [b["peak_percent"] for b in buckets] == [50.0, 75.0, 50.0]
    assert buckets[0]["from"] == T0 and buckets[-1]["to"] == at(180)


def test_a_partial_last_bucket_is_averaged_over_its_own_length():
    series = OccupancySeries(T0, at(90), HOUR, start=2)
    buckets = series.buckets(in_service=0)
    assert [(b["mean_occupied"], b["to"]) for b in buckets] == [(2.0, at(60)), (2.0, at(90))]
    assert buckets[0]["mean_percent"] == 0.0  # no slot in service: no percent to speak of
