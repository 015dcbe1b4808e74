"""VisitRepository: stays and sessions come back merged as written, are found near a regnum or
a bay, move between open visits only, and freeze with their visit's invoice."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from billing.domain.visits import SessionFact, StayFact, StayKey, session_visit_id
from tests.conftest import T0
from tests.support.billing import at

STAY = StayFact(StayKey("A1", "AB123", T0), "P0", "1", "CP-1", 1)
SESSION = SessionFact(
    "S1", "CP-1", 1, 1, at(5), at(36), Decimal("14.300"), 14300, "AB123", started_seen=True
)


async def test_a_stay_is_written_found_near_its_regnum_or_bay_and_locked_while_open(units):
    async with units() as uow:
        assert await uow.visits.get_stay(STAY.key) is None
        await uow.visits.put_stay(STAY, T0, new=True)
        await uow.visits.put_stay(replace(STAY, left_at=at(120)), at(120), new=False)
        await uow.commit()
    async with units() as uow:
        stay, status = await uow.visits.get_stay(STAY.key, for_update=True)
        assert (stay, status) == (replace(STAY, left_at=at(120)), "open")
        assert await uow.visits.open_stays_near(["AB123"], []) == [stay]
        assert await uow.visits.open_stays_near([], [("CP-1", 1)]) == [stay]
        assert await uow.visits.open_stays_near(["ZZ999"], [("CP-1", 2)]) == []
        assert await uow.visits.open_stays_near([], []) == []
        assert await uow.visits.lock_open_visit(STAY.visit_id)
        visit = await uow.visits.get(STAY.visit_id)
        assert (visit.kind, visit.status, visit.visit.stay, visit.changed_at) == (
            "STAY",
            "open",
            stay,
            at(120),
        )
        assert await uow.visits.due(at(120), 10) == [STAY.visit_id]
        assert await uow.visits.due(at(119), 10) == []


async def test_a_session_moves_between_open_visits_and_freezes_with_its_invoice(units):
    own = session_visit_id("S1")
    async with units() as uow:
        await uow.visits.put_stay(STAY, T0, new=True)
        await uow.visits.put_session(SESSION, own, at(5), new=True)
        await uow.visits.ensure_session_visit(own, SESSION, at(5))
        await uow.visits.ensure_session_visit(own, SESSION, at(6))  # once
        await uow.commit()
    async with units() as uow:
        stored = await uow.visits.get_session("S1")
        assert (stored.fact, stored.visit_id, stored.frozen) == (SESSION, own, False)
        [near] = await uow.visits.movable_sessions_near([], [("CP-1", 1)])
        assert near.fact.session_id == "S1"
        assert not await uow.visits.move_session("S1", STAY.visit_id, "vis_elsewhere")
        assert await uow.visits.move_session("S1", STAY.visit_id, own)
        await uow.visits.drop_empty_session_visits([own, STAY.visit_id])
        await uow.visits.touch_visits([STAY.visit_id], at(40))
        await uow.commit()
    async with units() as uow:
        assert await uow.visits.get(own) is None
        visit = await uow.visits.get(STAY.visit_id, for_update=True)
        assert [s.session_id for s in visit.visit.sessions] == ["S1"]
        assert visit.changed_at == at(40)
        await uow.visits.mark_invoiced(STAY.visit_id, "inv_1")
        await uow.commit()
    async with units() as uow:
        visit = await uow.visits.get(STAY.visit_id)
        assert (visit.status, visit.invoice_id) == ("invoiced", "inv_1")
        assert (await uow.visits.get_session("S1")).frozen
        assert await uow.visits.movable_sessions_near(["AB123"], []) == []
        assert not await uow.visits.move_session("S1", own, STAY.visit_id)
        assert not await uow.visits.lock_open_visit(STAY.visit_id)
        assert await uow.visits.open_stays_near(["AB123"], []) == []
        assert await uow.visits.due(at(1000), 10) == []
