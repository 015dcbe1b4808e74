"""The IncidentRepository port (inside a unit of work) and the incident reads of AlertReads
(outside one): the same cases on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from ops.domain import Firing, RuleSpec
from ops.domain.alerts import Incident, Rule
from tests.support.fakes.ops import OpenIncidentExists
from tests.support.ops import at

SPEC = RuleSpec.of({"kind": "charger_faulted", "window_sec": 60, "name": "faults"})


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
