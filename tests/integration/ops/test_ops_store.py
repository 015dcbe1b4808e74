"""ops' ingestion and store queries on SQLite and PostgreSQL alike: upserts keyed by event time,
time buckets computed in SQL (boundaries and fractions of a second), the energy window query,
and incidents under the rule lock."""

from __future__ import annotations

from datetime import timedelta

from ops.domain import RuleSpec
from tests.conftest import T0
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


async def test_time_buckets_agree_on_both_databases(any_db, clock):
    ops = await build_ops(any_db, clock)
    almost = T0 + timedelta(minutes=30) - timedelta(microseconds=1)
    edge = T0 + timedelta(minutes=30)
    await ops.feed(
        parked("A", "1", T0),  # at the first bucket's start
        parked("A", "2", almost),  # the last microsecond of the first bucket
        parked("A", "3", edge),  # exactly the second bucket's start
        left("A", "1", T0, at(59.999)),
        parked("A", "4", at(60)),  # the end of the period: outside
        parked("B", "1", at(10)),  # another lot
    )
    moves = await ops.queries.movements("A", T0, at(60), 1800)
    assert moves == {0: (2, 0), 1: (1, 1)}
    series = await ops.queries.occupancy_series("A", T0, at(60), 1800)
    assert [b["peak_occupied"] for b in series["buckets"]] == [2, 3]

    await ops.feed(
        telemetry(at(0), ("CP-1", 1, at(-1), 1_000), ("CP-1", 2, at(-2), 50)),
        telemetry(at(31), ("CP-1", 1, almost, 1_400), ("CP-1", 2, edge, 80)),
        telemetry(at(59), ("CP-1", 1, at(59), 1_300)),  # register reset: not energy
    )
    assert await ops.queries.energy_wh(T0, at(60), bucket_sec=1800) == {0: 400, 1: 30}
    assert await ops.queries.energy_wh(T0, at(60), charger_id="CP-1") == {0: 430}
    assert await ops.queries.energy_wh(T0, at(60), charger_id="CP-2") == {}


async def test_out_of_order_facts_settle_the_same_on_both_databases(any_db, clock):
    ops = await build_ops(any_db, clock)
    clock.at = at(60)
    await ops.feed(
        closed("s-1", "CP-1", 1, at(5), at(25), 4_000),  # the close before the start
        started("s-1", "CP-1", 1, at(5), meter=100),
        status("CP-1", 1, "Available", at(26)),
        status("CP-1", 1, "Charging", at(5)),  # older: keeps the newest as the current one
        left("A", "1", at(1), at(20)),  # the leave before the park
        parked("A", "1", at(1)),
        paid("inv-1", at(40), 700),  # paid before issued
        issued("inv-1", at(30), 700),
    )
    metrics = await ops.queries.charger_metrics("CP-1", T0, at(60))
    assert metrics["status"] == "Available" and metrics["energy_kwh"] == 4.0
    assert metrics["seconds_in_status"]["Charging"] == 21 * 60
    assert metrics["sessions"] == {"started": 1, "ended": 1, "active": 0}
    [lot] = await ops.queries.occupancy_now("A")
    assert lot["occupied"] == 0
    summary = await ops.queries.summary()
    assert summary["revenue_today"][0]["paid_minor"] == 700
    assert summary["revenue_today"][0]["issued_minor"] == 700
    gauges = await ops.queries.gauges()
    assert ("invoices_issued", "", 1) in gauges["totals"]


async def test_incidents_open_once_and_resolve_on_both_databases(any_db, clock):
    ops = await build_ops(any_db, clock)
    clock.at = at(0)
    rule = await ops.alerts.create_rule(RuleSpec.of({"kind": "charger_faulted", "window_sec": 60}))
    await ops.feed(status("CP-1", 1, "Faulted", at(0)))
    for minute in (1, 2, 3):
        clock.at = at(minute)
        await ops.alerts.evaluate_all()
    assert [i["state"] for i in await ops.alerts.incidents(None, rule["id"], 10)] == ["open"]
    await ops.feed(status("CP-1", 1, "Available", at(4)))
    clock.at = at(5)
    assert await ops.alerts.evaluate_all() == 1
    assert [i["state"] for i in await ops.alerts.incidents(None, rule["id"], 10)] == ["resolved"]
    assert [e["event"] for e in await ops.outbox()] == ["AlertRaised", "AlertResolved"]
