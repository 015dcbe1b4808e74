"""Ingestion: synthetic event streams into ops' tables, and the metrics read back from them.

The same stream fed in order, and fed backwards with every event delivered twice, must give the
same figures: facts are keyed by what they are about and ordered by event time, and a repeated
event id is dropped by the inbox.
"""

from __future__ import annotations

import random

from chargepark.db.engine import Database
from ops.api.common import CAPACITIES
from ops.domain.capacity import LevelCapacity
from tests.conftest import FixedClock
from tests.support.ops import (
    at,
    build_ops,
    closed,
    issued,
    left,
    paid,
    parked,
    started,
    status,
    telemetry,
)


def a_day_of_events() -> list[dict]:
    return [
        # lot A: two ICE slots on P0 and one EV bay (CP-1 connector 1) on P1
        parked("A", "1", at(0)),
        parked("A", "2", at(10), regnum="CD456"),
        left("A", "1", at(0), at(40)),
        parked("A", "9", at(5), level="P1", regnum="EV1", charger="CP-1", connector=1),
        # CP-1: available, a session with meter values, a fault, recovered
        status("CP-1", 1, "Available", at(-60)),
        status("CP-1", 1, "Charging", at(6)),
        started("s-1", "CP-1", 1, at(6), meter=10_000),
        telemetry(at(20), ("CP-1", 1, at(20), 13_000)),
        closed("s-1", "CP-1", 1, at(6), at(30), 5_000),
        status("CP-1", 1, "Faulted", at(30), "GroundFailure"),
        status("CP-1", 1, "Available", at(45)),
        # CP-2: one session without meter values
        status("CP-2", 1, "Available", at(-60)),
        started("s-2", "CP-2", 1, at(20), meter=0),
        closed("s-2", "CP-2", 1, at(20), at(50), 2_500),
        # billing
        issued("inv-1", at(52), 1234),
        paid("inv-1", at(55), 1234),
        issued("inv-2", at(56), 500),
    ]


async def figures(ops) -> dict:
    q = ops.queries
    return {
        "now": await q.occupancy_now("A"),
        "series": await q.occupancy_series("A", at(0), at(60), 1800),
        "cp1": await q.charger_metrics("CP-1", at(0), at(60)),
        "cp2": await q.charger_metrics("CP-2", at(0), at(60)),
        "summary": await q.summary(),
        "gauges": await q.gauges(),
    }


async def test_a_stream_gives_the_expected_figures(ops):
    ops.clock.at = at(60)
    await ops.feed(*a_day_of_events())
    q = ops.queries
    [lot] = await q.occupancy_now("A")
    assert (lot["occupied"], lot["capacity"], lot["percent"]) == (2, None, None)
    assert lot["ev"]["occupied"] == 1
    assert [(lv["level"], lv["occupied"]) for lv in lot["levels"]] == [("P0", 1), ("P1", 1)]

    series = await q.occupancy_series("A", at(0), at(60), 1800)
    first, second = series["buckets"]
    assert (first["arrivals"], first["departures"], first["peak_occupied"]) == (3, 0, 3)
    assert (second["arrivals"], second["departures"], second["peak_occupied"]) == (0, 1, 3)
    # 0-30: 1 vehicle 0-5, 2 vehicles 5-10, 3 vehicles 10-30 -> (5 + 10 + 60) / 30
    assert first["mean_occupied"] == round((5 + 10 + 60) / 30, 2)
    assert first["mean_percent"] is None  # no capacity known yet

    cp1 = await q.charger_metrics("CP-1", at(0), at(60))
    assert cp1["seconds_in_status"]["Faulted"] == 15 * 60
    assert cp1["availability_percent"] == 75.0 and cp1["uptime_percent"] == 100.0
    assert cp1["faults"] == [
        {
            "evse_id": 1,
            "error_code": "GroundFailure",
            "from": at(30),
            "to": at(45),
            "seconds": 900.0,
        }
    ]
    assert cp1["sessions"] == {"started": 1, "ended": 1, "active": 0}
    assert cp1["energy_kwh"] == 5.0  # 10 000 -> 13 000 (meter values) -> 15 000 (stop)
    assert cp1["last_seen"] == at(45) and cp1["status"] == "Available"
    cp2 = await q.charger_metrics("CP-2", at(0), at(60))
    assert cp2["energy_kwh"] == 2.5  # from the session's start and stop registers alone

    summary = await q.summary()
    assert summary["chargers"] == {
        "total": 2,
        "online": 2,
        "faulted": 0,
        "by_status": {
            "Available": 2,
            "Occupied": 0,
            "Charging": 0,
            "Faulted": 0,
            "Unavailable": 0,
            "Offline": 0,
            "Unknown": 0,
        },
    }
    assert summary["energy_today_kwh"] == 7.5
    assert summary["revenue_today"] == [
        {
            "currency": "EUR",
            "issued_count": 2,
            "issued_minor": 1734,
            "paid_count": 1,
            "paid_minor": 1234,
        }
    ]
    gauges = await q.gauges()
    assert sorted(gauges["totals"]) == [
        ("invoices_issued", "", 2),
        ("invoices_paid", "", 1),
        ("issued_minor", "EUR", 1734),
        ("paid_minor", "EUR", 1234),
    ]


async def test_late_and_repeated_events_change_nothing(ops, tmp_path):
    events = a_day_of_events()
    ops.clock.at = at(60)
    await ops.feed(*events)
    expected = await figures(ops)

    for seed in (1, 2):
        db = Database(f"sqlite+aiosqlite:///{tmp_path / f'shuffled-{seed}.db'}")
        try:
            other = await build_ops(db, FixedClock(at(60)))
            shuffled = events + random.Random(seed).sample(events, len(events) // 2)
            random.Random(seed).shuffle(shuffled)
            await other.feed(*shuffled)
            assert await figures(other) == expected
        finally:
            await db.dispose()


async def test_a_lot_capacity_gives_percentages(ops):
    ops.clock.at = at(60)
    await ops.feed(*a_day_of_events())
    capacities = ops.parts.app[CAPACITIES]
    await capacities.replace("A", [LevelCapacity("P0", 4, 0), LevelCapacity("P1", 2, 2)])
    [lot] = await ops.queries.occupancy_now("A")
    assert (lot["occupied"], lot["capacity"], lot["percent"]) == (2, 6, 33.3)
    assert lot["ev"] == {"occupied": 1, "capacity": 2, "percent": 50.0}
    series = await ops.queries.occupancy_series("A", at(0), at(60), 1800, ev=True)
    assert series["capacity"] == 2 and series["buckets"][0]["peak_percent"] == 50.0


async def test_energy_per_bucket_is_summed_in_sql(ops):
    await ops.feed(
        telemetry(at(1), ("CP-9", 1, at(-1), 100), ("CP-9", 2, at(1), 50)),
        telemetry(at(20), ("CP-9", 1, at(20), 400), ("CP-9", 2, at(40), 80)),
        telemetry(at(50), ("CP-9", 1, at(50), 1000)),
    )
    per_bucket = await ops.queries.energy_wh(at(0), at(60), bucket_sec=1800)
    assert per_bucket == {0: 300, 1: 600 + 30}
    assert await ops.queries.energy_wh(at(0), at(60), charger_id="CP-9") == {0: 930}
