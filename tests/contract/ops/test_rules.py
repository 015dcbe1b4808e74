"""The RuleRepository port (inside a unit of work) and the rule reads of AlertReads (outside
one): the same cases on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ops.domain import RuleSpec
from ops.domain.alerts import Rule, UnknownRule
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
