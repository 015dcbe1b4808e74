"""The alert ports (RuleRepository, IncidentRepository, DeliveryRepository inside a unit of work;
AlertReads outside one), the same cases on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from ops.domain import Firing, RuleSpec
from ops.domain.alerts import Delivery, Incident, Rule, UnknownRule
from tests.support.fakes.ops import OpenIncidentExists
from tests.support.ops import at

SPEC = RuleSpec.of({"kind": "charger_faulted", "window_sec": 60, "name": "faults"})


async def test_a_rule_is_added_redefined_evaluated_and_removed(store):
    first, second = Rule.new("r-1", SPEC, at(0)), Rule.new("r-2", SPEC, at(1))
    async with store.units() as uow:
        await uow.rules.add(second)
        await uow.rules.add(first)
        await uow.commit()
    assert [r.id for r in await store.reads.rules()] == ["r-1", "r-2"]
    assert await store.reads.rule("r-1") == first

    off = RuleSpec.of({"kind": "invoice_unpaid", "window_sec": 5, "enabled": False})
    async with store.units() as uow:
        redefined = (await uow.rules.locked("r-1")).redefined(off, at(5))
        await uow.rules.save(redefined)
        await uow.rules.evaluated("r-2", at(6))
        await uow.commit()
    assert await store.reads.rule("r-1") == redefined
    assert (await store.reads.rule("r-2")).evaluated_at == at(6)
    assert await store.reads.enabled_rule_ids() == ["r-2"]

    async with store.units() as uow:
        await uow.rules.remove("r-2")
        await uow.commit()
    assert await store.reads.rule("r-2") is None
    async with store.units() as uow:
        with pytest.raises(UnknownRule):
            await uow.rules.locked("r-2")


async def test_nothing_is_kept_without_commit(store):
    async with store.units() as uow:
        await uow.rules.add(Rule.new("r-1", SPEC, at(0)))
        assert (await uow.rules.locked("r-1")).id == "r-1"  # the unit sees its own change
    assert await store.reads.rules() == []


def incident(incident_id: str, subject: str, since: int, opened: int) -> Incident:
    rule = Rule.new("r-1", SPEC, at(0))
    firing = Firing(subject, at(since), at(since + 1), None, "EVSE 1")
    return Incident.of(incident_id, rule, firing, at(opened))


async def test_incidents_open_resolve_and_cover_their_span(store):
    async with store.units() as uow:
        await uow.incidents.add(incident("i-1", "CP-1", 0, 2))
        await uow.incidents.add(incident("i-2", "CP-2", 0, 3))
        await uow.incidents.add(incident("i-3", "CP-3", 0, 3).resolved(at(4), at(5)))
        await uow.commit()
    async with store.units() as uow:
        assert sorted(i.id for i in await uow.incidents.open_of("r-1")) == ["i-1", "i-2"]
        await uow.incidents.resolve("i-1", at(10), at(11))
        assert await uow.incidents.covers("r-1", "CP-1", at(5), at(8))
        assert not await uow.incidents.covers("r-1", "CP-1", at(12), at(20))  # after it cleared
        assert await uow.incidents.covers("r-1", "CP-2", at(50), at(60))  # still open
        assert not await uow.incidents.covers("r-1", "CP-9", at(0), at(60))
        await uow.commit()

    assert [i.id for i in await store.reads.incidents(None, None, 10)] == ["i-2", "i-3", "i-1"]
    assert [i.id for i in await store.reads.incidents("open", "r-1", 10)] == ["i-2"]
    assert [i.id for i in await store.reads.incidents(None, "r-9", 10)] == []
    assert len(await store.reads.incidents(None, None, 1)) == 1
    resolved = await store.reads.incident("i-1")
    assert resolved == replace(incident("i-1", "CP-1", 0, 2), state="resolved").resolved(
        at(10), at(11)
    )
    assert await store.reads.incident("i-9") is None


async def test_one_open_incident_per_rule_and_subject(store):
    async with store.units() as uow:
        await uow.incidents.add(incident("i-1", "CP-1", 0, 2))
        await uow.commit()
    with pytest.raises((IntegrityError, OpenIncidentExists)):
        async with store.units() as uow:
            await uow.incidents.add(incident("i-2", "CP-1", 5, 6))
            await uow.commit()


def delivery(incident_id: str, event_id: str) -> Delivery:
    return Delivery(
        incident_id=incident_id,
        event_id=event_id,
        event_type="AlertRaised",
        url="http://hook.example/x",
        payload="{}",
        next_attempt_at=at(0),
        created_at=at(0),
    )


async def test_deliveries_go_in_order_per_incident_and_are_claimed_once(store):
    async with store.units() as uow:
        for incident_id, event_id in (("i-1", "e-1"), ("i-1", "e-2"), ("i-2", "e-3")):
            await uow.deliveries.add(delivery(incident_id, event_id))
        await uow.commit()
    due = await store.reads.due_deliveries(at(1), 10)
    assert [d.event_id for d in due] == ["e-1", "e-3"]  # e-2 waits for e-1
    assert await store.reads.due_deliveries(at(-1), 10) == []
    first = due[0]

    async with store.units() as uow:
        assert await uow.deliveries.claim(first, at(2))
        assert not await uow.deliveries.claim(first, at(3))  # claimed: its time moved
        await uow.commit()
    assert [d.event_id for d in await store.reads.due_deliveries(at(1), 10)] == ["e-3"]

    sent = first.attempted(True, "HTTP 204", at(1), 5, at(1) - at(0))
    async with store.units() as uow:
        await uow.deliveries.save(sent)
        await uow.commit()
    assert [d.event_id for d in await store.reads.due_deliveries(at(1), 10)] == ["e-2", "e-3"]
    [got, waiting] = await store.reads.deliveries_of("i-1")
    assert (got.state, got.attempts, got.delivered_at, got.next_attempt_at) == (
        "delivered",
        1,
        at(1),
        None,
    )
    assert (waiting.event_id, waiting.state, waiting.attempts) == ("e-2", "pending", 0)
