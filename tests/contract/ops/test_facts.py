"""Ingestion's FactStore and the capacities (inside a unit of work), read back through the
RuleFacts port: the same cases on the fake, SQLite and PostgreSQL. Facts arrive late and out of
order; each lands where it belongs."""

from __future__ import annotations

from ops.domain import InvoiceTime, RuleSpec, SessionTime, StatusChange, Stay
from ops.domain.capacity import SlotCount
from ops.domain.facts import Reading, SessionFact, StatusFact, StayFact
from tests.support.ops import at


def rule(kind: str, **more) -> RuleSpec:
    return RuleSpec.of({"kind": kind, "window_sec": 60, **more})


def stay(slot: str, arrived: int, left: int | None = None, **more) -> StayFact:
    return StayFact(
        lot_id=more.pop("lot_id", "A"),
        slot_ui=slot,
        arrived_at=at(arrived),
        level="P0",
        regnum=more.pop("regnum", "AB123"),
        left_at=None if left is None else at(left),
        **more,
    )


async def test_both_halves_of_a_stay_meet_whichever_comes_first(store):
    async with store.units() as uow:
        await uow.facts.stay_left(stay("1", 0, 30))  # the leave first
        await uow.facts.stay_arrived(stay("1", 0))
        await uow.facts.stay_arrived(stay("2", 5, charger_id="CP-1", connector_id=1))
        await uow.facts.stay_arrived(stay("3", 90))  # after the period
        await uow.facts.stay_arrived(stay("1", 1, lot_id="B"))
        await uow.capacities.replace(
            "A", [SlotCount("P0", False, 3), SlotCount("P0", True, 1)], at(0)
        )
        await uow.capacities.replace("B", [SlotCount("P0", False, 9)], at(0))
        await uow.capacities.replace("B", [SlotCount("P1", True, 2)], at(0))  # replaces B's
        await uow.commit()

    data = await store.facts.rule_data(
        rule("occupancy_high", threshold_percent=50), at(-10), at(60)
    )
    assert data.capacity_by_lot == {"A": 4, "B": 2}
    assert sorted(data.stays_by_lot["A"], key=lambda s: s.arrived_at) == [
        Stay(at(0), at(30), "P0", False, None, None, "A"),
        Stay(at(5), None, "P0", True, "CP-1", 1, "A"),
    ]
    ev_only = rule("occupancy_high", threshold_percent=50, ev_only=True, lot_id="A")
    data = await store.facts.rule_data(ev_only, at(40), at(60))
    assert data.capacity_by_lot == {"A": 1}
    assert [s.charger_id for s in data.stays_by_lot["A"]] == ["CP-1"]


async def test_status_changes_start_from_the_last_one_before_the_period(store):
    changes = [
        (1, "Available", -20),
        (1, "Faulted", -5),
        (2, "Available", -30),
        (1, "Available", 10),
    ]
    async with store.units() as uow:
        for evse, status, minute in changes:
            change = StatusFact(
                charger_id="CP-1",
                evse_id=evse,
                connector_id=evse,
                status=status,
                error_code="E" if status == "Faulted" else None,
                at=at(minute),
            )
            await uow.facts.status_changed(change)
        await uow.facts.status_changed(replace_charger(change, "CP-2"))
        await uow.commit()
    data = await store.facts.rule_data(rule("charger_faulted", charger_id="CP-1"), at(0), at(60))
    assert sorted(data.status_changes["CP-1"], key=lambda c: (c.at, c.evse_id)) == [
        StatusChange(2, "Available", at(-30)),
        StatusChange(1, "Faulted", at(-5), "E"),
        StatusChange(1, "Available", at(10)),
    ]
    assert set(data.status_changes) == {"CP-1"}


def replace_charger(change: StatusFact, charger_id: str) -> StatusFact:
    return StatusFact(
        charger_id=charger_id,
        evse_id=change.evse_id,
        connector_id=change.connector_id,
        status=change.status,
        error_code=change.error_code,
        at=change.at,
    )


def session(session_id: str, started: int, **more) -> SessionFact:
    return SessionFact(
        session_id=session_id,
        charger_id=more.pop("charger_id", "CP-1"),
        evse_id=1,
        connector_id=1,
        started_at=at(started),
        **more,
    )


async def test_a_session_closed_before_it_started_keeps_both_halves(store):
    async with store.units() as uow:
        await uow.facts.session_closed(session("s-1", 5, ended_at=at(25), energy_wh=4_000))
        await uow.facts.session_started(session("s-1", 5, meter_start_wh=100))
        await uow.facts.session_started(session("s-2", 30, charger_id="CP-2"))
        assert await uow.facts.session("s-1") == session(
            "s-1", 5, meter_start_wh=100, ended_at=at(25), energy_wh=4_000
        )
        await uow.facts.add_readings([Reading("CP-1", 1, at(5), 100)])
        await uow.facts.add_readings([Reading("CP-1", 1, at(5), 999)])  # kept as it was
        await uow.facts.seen({"CP-1": at(25)})
        await uow.facts.seen({"CP-1": at(5)})  # older: changes nothing
        await uow.commit()
    data = await store.facts.rule_data(rule("bay_idle"), at(0), at(60))
    assert sorted(data.sessions, key=lambda s: s.started_at) == [
        SessionTime("CP-1", 1, at(5), at(25)),
        SessionTime("CP-2", 1, at(30), None),
    ]
    data = await store.facts.rule_data(rule("bay_idle", charger_id="CP-2"), at(26), at(60))
    assert data.sessions == [SessionTime("CP-2", 1, at(30), None)]


async def test_an_invoice_paid_before_its_issue_arrived_is_one_invoice(store):
    async with store.units() as uow:
        await uow.facts.invoice_paid("inv-1", "EUR", 1_000, at(20))
        assert (await uow.facts.invoice("inv-1")).issued_at is None
        await uow.facts.invoice_issued("inv-1", "EUR", 1_000, at(5))
        await uow.facts.invoice_issued("inv-2", "EUR", 50, at(10))
        await uow.facts.add_total("issued_minor", "EUR", 1_000)
        await uow.facts.add_total("issued_minor", "EUR", 50)
        await uow.commit()
    async with store.units() as uow:
        paid = await uow.facts.invoice("inv-1")
        assert (paid.total_minor, paid.issued_at, paid.amount_paid_minor, paid.paid_at) == (
            1_000,
            at(5),
            1_000,
            at(20),
        )
        assert await uow.facts.invoice("inv-9") is None
    data = await store.facts.rule_data(rule("invoice_unpaid"), at(30), at(60))
    assert data.invoices == [InvoiceTime("inv-2", at(10), None)]
