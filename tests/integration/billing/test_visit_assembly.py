"""Visit assembly, property-based: every order of the events, with repeats, gives the same
visits; and the same holds through billing's consumer and store on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.domain.visits import (
    SessionFact,
    StayFact,
    Visit,
    assemble,
    merge_session,
    merge_stay,
    session_of_event,
    stay_of_event,
)
from tests.support.billing import left, parked, session_events

STARTED_1, CLOSED_1 = session_events("S1", 5, 36)  # on the bay of AB123's stay
STARTED_2, CLOSED_2 = session_events("S2", 50, 70, kwh="3.000", charger="PUB-9")  # public
STARTED_3, CLOSED_3 = session_events("S3", 130, 140, kwh="1.000", regnum="CD456", charger="X-1")
EVENTS: list[dict[str, Any]] = [
    parked(),
    left(),
    STARTED_1,
    CLOSED_1,
    STARTED_2,
    CLOSED_2,
    parked("CD456", 125, bay=None),
    left("CD456", 125, 200, bay=None),
    STARTED_3,
    CLOSED_3,
]


def fold(events: Sequence[dict[str, Any]]) -> dict[str, Visit]:
    stays: dict[Any, StayFact] = {}
    sessions: dict[str, SessionFact] = {}
    for e in events:
        if e["event"].startswith("Vehicle"):
            fact = stay_of_event(e)
            stays[fact.key] = merge_stay(stays.get(fact.key), fact)
        else:
            s = session_of_event(e)
            sessions[s.session_id] = merge_session(sessions.get(s.session_id), s)
    return assemble(stays.values(), sessions.values())


EXPECTED = fold(EVENTS)


def shape(visits: dict[str, Visit]) -> dict[str, Any]:
    return {vid: (v.stay, tuple(v.sessions)) for vid, v in visits.items()}


def test_the_reference_order_makes_the_visits_the_rules_say():
    by_stay = {v.stay.key.regnum if v.stay else None: v for v in EXPECTED.values()}
    assert [s.session_id for s in by_stay["AB123"].sessions] == ["S1"]
    assert [s.session_id for s in by_stay["CD456"].sessions] == ["S3"]  # by regnum
    assert [s.session_id for s in by_stay[None].sessions] == ["S2"]  # a public charger
    assert all(v.complete for v in EXPECTED.values())


events_with_repeats = st.lists(st.sampled_from(range(len(EVENTS))), max_size=8).flatmap(
    lambda extra: st.permutations([*range(len(EVENTS)), *extra])
)


@given(events_with_repeats)
def test_any_order_with_repeats_makes_the_same_visits(order):
    assert shape(fold([EVENTS[i] for i in order])) == shape(EXPECTED)


@given(st.permutations(range(len(EVENTS))), st.integers(0, len(EVENTS)))
def test_without_a_started_event_the_close_alone_makes_the_same_visits(order, _):
    events = [EVENTS[i] for i in order if EVENTS[i]["event"] != "ChargingSessionStarted"]
    got = shape(fold(events))
    want = shape(EXPECTED)
    assert set(got) == set(want)
    for vid, (stay, sessions) in got.items():
        assert stay == want[vid][0]
        assert [s.session_id for s in sessions] == [s.session_id for s in want[vid][1]]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events_with_repeats)
async def test_through_the_consumer_and_the_store_any_order_bills_the_same(tmp_path_factory, order):
    from chargepark.db.engine import Database
    from tests.conftest import FixedClock
    from tests.support.billing import a_billing, at

    path = tmp_path_factory.mktemp("assembly") / "billing.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        clock = FixedClock(at(0))
        billing = await a_billing(db, clock)
        for i in order:
            await billing.deliver(EVENTS[i])
        clock.at = at(400)
        made = await billing.service.finalize_due()
        totals = sorted([(await billing.service.invoice(i))["total_minor"] for i in made])
        assert totals == [200, 407, 1534]  # public 3 kWh; CD456 75 min + 1 kWh; the example
    finally:
        await db.dispose()
