"""Visits from events through the use cases on the fakes: any order, with repeats, bills the
same; and where a session goes when its best stay was invoiced meanwhile."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.visits import (
    place,
    ranked_stays,
    session_of_event,
    session_visit_id,
    stay_of_event,
)
from tests.conftest import FixedClock
from tests.support.billing import ScriptedProvider, at, left, parked, session_events
from tests.support.fakes.billing import FakeBilling

STARTED_1, CLOSED_1 = session_events("S1", 5, 36)  # on the bay of AB123's stay
STARTED_2, CLOSED_2 = session_events("S2", 50, 70, kwh="3.000", charger="PUB-9")  # public
STARTED_3, CLOSED_3 = session_events("S3", 130, 140, kwh="1.000", regnum="CD456", charger="X-1")
EVENTS = [
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

orders = st.lists(st.sampled_from(range(len(EVENTS))), max_size=6).flatmap(
    lambda extra: st.permutations([*range(len(EVENTS)), *extra])
)


@settings(max_examples=40, deadline=None)
@given(orders)
async def test_any_order_with_repeats_bills_the_same(order):
    clock = FixedClock(at(0))
    billing = FakeBilling(clock, ScriptedProvider())
    await billing.service.ensure_default_tariff()
    await billing.deliver(*[EVENTS[i] for i in order])
    clock.at = at(400)
    made = await billing.service.finalize_due()
    totals = sorted([(await billing.service.invoice(i))["total_minor"] for i in made])
    assert totals == [200, 407, 1534]  # public 3 kWh; CD456 75 min + 1 kWh; the example


def test_a_session_is_placed_in_its_stays_best_first():
    session = replace(session_of_event(CLOSED_1), regnum="AB123")
    on_the_bay = stay_of_event(left())  # AB123 on CP-1's bay
    by_regnum_only = stay_of_event(left("AB123", 1, 120, lot="B2", bay=None))
    elsewhere = stay_of_event(left("ZZ999", 0, 120, bay=None))
    stays = [elsewhere, by_regnum_only, on_the_bay]
    assert ranked_stays(session, stays) == [on_the_bay, by_regnum_only]
    [placement] = place([(session, "vis_now")], stays)
    assert placement.stays == (on_the_bay.visit_id, by_regnum_only.visit_id)
    assert placement.own_visit.startswith("vis_") and placement.current == "vis_now"


async def test_a_stay_invoiced_meanwhile_is_passed_by_for_the_sessions_own_visit(billing, clock):
    await billing.deliver(parked(), left())
    clock.at = at(200)
    [parking_only] = await billing.service.finalize_due()  # the stay is invoiced
    started, closed = session_events()  # on its bay, during it
    await billing.deliver(started, closed)
    clock.at = at(400)
    [charging] = await billing.service.finalize_due()
    inv = await billing.service.invoice(charging)
    assert [line["kind"] for line in inv["lines"]] == ["CHARGING"]
    assert parking_only != charging


async def test_a_stay_invoiced_between_the_read_and_the_lock_is_passed_by(
    billing, clock, monkeypatch
):
    from tests.support.fakes.billing import FakeVisits

    await billing.deliver(parked(), left())
    refused = stay_of_event(left()).visit_id

    async def invoiced_meanwhile(self, visit_id):
        return visit_id != refused

    monkeypatch.setattr(FakeVisits, "lock_open_visit", invoiced_meanwhile)
    started, closed = session_events()
    await billing.deliver(started, closed)
    stored = await billing.service.visit(session_visit_id("S1"))
    assert [s.session_id for s in stored.visit.sessions] == ["S1"]
    assert (await billing.service.visit(refused)).visit.sessions == ()
