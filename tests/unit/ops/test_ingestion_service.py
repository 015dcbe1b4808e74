"""Ingestion use cases against the in-memory fakes: the facts ops keeps of each event, keyed so
that the same stream fed in any order settles the same; running totals counted once per state;
a session's registers kept as readings."""

from __future__ import annotations

import random

import pytest

from chargepark.clock import NotATime
from ops.domain.facts import Reading
from tests.support.fakes.ops import FakeOps, OpsState
from tests.support.ops import (
    at,
    closed,
    issued,
    left,
    paid,
    parked,
    started,
    status,
    telemetry,
)


def a_stream() -> list[dict]:
    return [
        parked("A", "1", at(0)),
        left("A", "1", at(0), at(40)),
        parked("A", "9", at(5), level="P1", regnum="EV1", charger="CP-1", connector=1),
        status("CP-1", 1, "Available", at(-60)),
        status("CP-1", 1, "Charging", at(6)),
        started("s-1", "CP-1", 1, at(6), meter=10_000),
        telemetry(at(20), ("CP-1", 1, at(20), 13_000), ("CP-2", 1, at(21), None)),
        closed("s-1", "CP-1", 1, at(6), at(30), 5_000),
        status("CP-1", 1, "Faulted", at(30), "GroundFailure"),
        issued("inv-1", at(52), 1234),
        paid("inv-1", at(55), 1234),
        issued("inv-2", at(56), 500, currency="SEK"),
    ]


def settled(state: OpsState) -> dict:
    """What ingestion decides (the status history is a log: its order is arrival order)."""
    return {
        "stays": state.stays,
        "connectors": state.connectors,
        "last_seen": state.last_seen,
        "sessions": state.sessions,
        "readings": state.readings,
        "invoices": state.invoices,
        "totals": state.totals,
        "history": sorted(state.status_changes, key=lambda c: (c.at, c.charger_id, c.evse_id)),
    }


async def test_a_stream_leaves_the_expected_facts():
    fake = FakeOps()
    await fake.feed(*a_stream())
    state = fake.state
    [(key, stay)] = [(k, v) for k, v in state.stays.items() if k[1] == "1"]
    assert (key[2], stay["left_at"], stay["ev_bay"]) == (at(0), at(40), False)
    assert state.stays[("A", "9", at(5))]["ev_bay"] is True
    assert state.connectors[("CP-1", 1)].status == "Faulted"
    assert state.last_seen == {"CP-1": at(30), "CP-2": at(21)}
    assert sorted(state.readings.values(), key=lambda r: r.read_at) == [
        Reading("CP-1", 1, at(6), 10_000),  # the session's start register
        Reading("CP-1", 1, at(20), 13_000),
        Reading("CP-1", 1, at(30), 15_000),  # and its stop register
    ]
    assert state.totals == {
        ("invoices_issued", ""): 2,
        ("issued_minor", "EUR"): 1234,
        ("issued_minor", "SEK"): 500,
        ("invoices_paid", ""): 1,
        ("paid_minor", "EUR"): 1234,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_any_order_settles_the_same(seed):
    in_order = FakeOps()
    await in_order.feed(*a_stream())
    shuffled = a_stream()
    random.Random(seed).shuffle(shuffled)
    other = FakeOps()
    await other.feed(*shuffled)
    assert settled(other.state) == settled(in_order.state)


async def test_an_older_status_or_sighting_does_not_replace_a_newer_one():
    fake = FakeOps()
    await fake.feed(status("CP-1", 1, "Available", at(10)), status("CP-1", 1, "Faulted", at(5)))
    assert fake.state.connectors[("CP-1", 1)].status == "Available"
    assert fake.state.last_seen == {"CP-1": at(10)}
    assert len(fake.state.status_changes) == 2  # both kept in the history


async def test_a_repeated_issue_or_payment_adds_to_no_total():
    fake = FakeOps()
    await fake.feed(
        issued("inv-1", at(1), 100), issued("inv-1", at(1), 100), paid("inv-1", at(2), 100)
    )
    await fake.feed(paid("inv-1", at(2), 100))
    assert fake.state.totals == {
        ("invoices_issued", ""): 1,
        ("issued_minor", "EUR"): 100,
        ("invoices_paid", ""): 1,
        ("paid_minor", "EUR"): 100,
    }


async def test_a_time_without_a_zone_is_refused():
    fake = FakeOps()
    event = status("CP-1", 1, "Available", at(0)) | {"ts": "2026-11-27T09:00:00"}
    with pytest.raises(NotATime):
        await fake.feed(event)
    assert fake.state.status_changes == []
