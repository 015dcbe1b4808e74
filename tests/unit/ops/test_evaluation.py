"""Alert evaluation against the in-memory fakes: each rule kind opens one incident when its
condition has held longer than its window, keeps it open (no storm) and resolves it once;
conditions that fired and cleared between evaluations, late facts, rules disabled, deleted or
changed meanwhile, and a dry run."""

from __future__ import annotations

from typing import Any

import pytest

from ops.domain import RuleSpec
from ops.domain.alerts import UnknownRule
from ops.domain.capacity import LevelCapacity
from ops.services.capacity import LotCapacities
from tests.support.fakes.ops import FakeOps
from tests.support.ops import at, issued, left, paid, parked, started, status


@pytest.fixture
def fake() -> FakeOps:
    return FakeOps()


async def a_rule(fake: FakeOps, clock, **body: Any) -> dict[str, Any]:
    return await fake.alerts(clock).create_rule(RuleSpec.of(body))


CASES = {
    "charger_faulted": (
        {"kind": "charger_faulted", "window_sec": 600},
        [
            status("CP-1", 1, "Faulted", at(5), "GroundFailure"),
            status("CP-1", 2, "Faulted", at(6)),  # same charger: same incident
            status("CP-1", 1, "Available", at(30)),
            status("CP-1", 2, "Available", at(31)),
        ],
        "CP-1",
        (15, 31),
    ),
    "charger_offline": (
        {"kind": "charger_offline", "window_sec": 600, "charger_id": "CP-2"},
        [
            status("CP-1", 0, "Offline", at(5)),  # another charger: filtered out
            status("CP-2", 0, "Offline", at(5)),
            status("CP-2", 0, "Available", at(30)),
        ],
        "CP-2",
        (15, 30),
    ),
    "occupancy_high": (
        {"kind": "occupancy_high", "window_sec": 600, "threshold_percent": 50},
        [
            parked("A", "1", at(1)),
            parked("A", "2", at(5), regnum="CD456"),
            left("A", "2", at(5), at(30), regnum="CD456"),
        ],
        "A",
        (15, 30),
    ),
    "bay_idle": (
        {"kind": "bay_idle", "window_sec": 600},
        [
            parked("A", "9", at(5), regnum="EV1", charger="CP-1", connector=1),
            started("s-1", "CP-1", 2, at(10)),  # another connector: the bay stays idle
            started("s-2", "CP-1", 1, at(30)),
        ],
        "CP-1",
        (15, 30),
    ),
    "invoice_unpaid": (
        {"kind": "invoice_unpaid", "window_sec": 600},
        [issued("inv-1", at(5), 1000), paid("inv-1", at(30), 1000)],
        "inv-1",
        (15, 30),
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_each_rule_kind_opens_once_and_resolves_once(fake, clock, kind):
    body, events, subject, (fires, clears) = CASES[kind]
    await LotCapacities(fake.units, clock).replace("A", [LevelCapacity("P0", 2, 0)])
    clock.at = at(-10)
    alerts = fake.alerts(clock)
    rule = await alerts.create_rule(RuleSpec.of(body))
    pending = sorted(events, key=lambda e: e["ts"])
    changes = {}
    for minute in range(-8, 36, 2):
        clock.at = at(minute)
        while pending and pending[0]["ts"] <= clock.at.isoformat().replace("+00:00", "Z"):
            await fake.feed(pending.pop(0))
        changes[minute] = await alerts.evaluate_all()
    opened_at = min(m for m in changes if m >= fires)
    resolved_at = min(m for m in changes if m >= clears)
    assert {m: n for m, n in changes.items() if n} == {opened_at: 1, resolved_at: 1}
    [incident] = await alerts.incidents(None, rule["id"], 10)
    assert (incident["subject"], incident["state"]) == (subject, "resolved")
    assert incident["fired_at"] == at(fires).isoformat().replace("+00:00", "Z")
    assert fake.alert_events() == [("AlertRaised", subject), ("AlertResolved", subject)]


async def test_a_condition_that_fired_and_cleared_between_evaluations_still_counts(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    await alerts.create_rule(RuleSpec.of({"kind": "charger_faulted", "window_sec": 300}))
    await fake.feed(status("CP-1", 1, "Faulted", at(2)), status("CP-1", 1, "Available", at(20)))
    clock.at = at(30)
    assert await alerts.evaluate_all() == 2  # opened and resolved at once
    [incident] = await alerts.incidents("resolved", None, 10)
    assert (incident["fired_at"], incident["cleared_at"]) == (
        "2026-11-27T09:07:00Z",
        "2026-11-27T09:20:00Z",
    )
    clock.at = at(31)
    assert await alerts.evaluate_all() == 0
    assert fake.alert_events() == [("AlertRaised", "CP-1"), ("AlertResolved", "CP-1")]


async def test_a_cleared_condition_an_incident_already_covers_opens_nothing(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    rule = await a_rule(fake, clock, kind="charger_faulted", window_sec=60)
    await fake.feed(status("CP-1", 1, "Faulted", at(0)))
    clock.at = at(5)
    assert await alerts.evaluate_all() == 1
    off = RuleSpec.of({"kind": "charger_faulted", "window_sec": 60, "enabled": False})
    clock.at = at(8)
    await alerts.replace_rule(rule["id"], off)  # resolves the incident, the fault still on
    clock.at = at(9)
    await alerts.replace_rule(
        rule["id"], RuleSpec.of({"kind": "charger_faulted", "window_sec": 60})
    )
    await fake.feed(status("CP-1", 1, "Available", at(10)))
    clock.at = at(20)
    assert await alerts.evaluate_all() == 0  # the fault that cleared at 10 had its incident
    assert [i["state"] for i in await alerts.incidents(None, None, 10)] == ["resolved"]


async def test_a_late_fault_opens_its_incident_at_the_next_evaluation(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    await alerts.create_rule(RuleSpec.of({"kind": "charger_faulted", "window_sec": 300}))
    clock.at = at(30)
    assert await alerts.evaluate_all() == 0
    await fake.feed(status("CP-1", 1, "Faulted", at(10)))  # arrives 20 minutes late
    clock.at = at(31)
    assert await alerts.evaluate_all() == 1
    [incident] = await alerts.incidents("open", None, 10)
    assert (incident["condition_since"], incident["fired_at"]) == (
        "2026-11-27T09:10:00Z",
        "2026-11-27T09:15:00Z",
    )


async def test_disabling_or_deleting_a_rule_resolves_its_open_incidents(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    first = await a_rule(fake, clock, kind="charger_faulted", window_sec=60)
    second = await a_rule(fake, clock, kind="charger_faulted", window_sec=60, name="copy")
    await fake.feed(status("CP-1", 1, "Faulted", at(0)))
    clock.at = at(5)
    assert await alerts.evaluate_all() == 2
    off = RuleSpec.of({"kind": "charger_faulted", "window_sec": 60, "enabled": False})
    replaced = await alerts.replace_rule(first["id"], off)
    assert (replaced["enabled"], replaced["created_at"]) == (False, first["created_at"])
    await alerts.delete_rule(second["id"])
    assert await alerts.incidents("open", None, 10) == []
    assert [e for e, _ in fake.alert_events()] == ["AlertRaised"] * 2 + ["AlertResolved"] * 2
    clock.at = at(6)
    assert await alerts.evaluate_all() == 0  # disabled: not evaluated
    with pytest.raises(UnknownRule):
        await alerts.rule(second["id"])
    with pytest.raises(UnknownRule):
        await alerts.delete_rule(second["id"])


async def test_a_rule_changed_since_its_facts_were_read_is_left_to_the_next_run(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    rule = await a_rule(fake, clock, kind="charger_faulted", window_sec=60)
    await fake.feed(status("CP-1", 1, "Faulted", at(0)))
    clock.at = at(5)
    facts = alerts.evaluation.facts
    real = facts.rule_data

    async def changed_meanwhile(spec, since, now):
        async with fake.units() as uow:
            await uow.rules.evaluated(rule["id"], at(4))
            await uow.commit()
        return await real(spec, since, now)

    facts.rule_data = changed_meanwhile
    assert await alerts.evaluate(rule["id"]) == 0
    assert await alerts.incidents(None, None, 10) == []


async def test_one_failing_rule_does_not_keep_the_others_from_running(fake, clock):
    clock.at = at(0)
    alerts = fake.alerts(clock)
    await a_rule(fake, clock, kind="invoice_unpaid", window_sec=0)
    await a_rule(fake, clock, kind="charger_faulted", window_sec=0)
    await fake.feed(issued("inv-1", at(0), 5), status("CP-1", 1, "Faulted", at(0)))
    real = alerts.evaluation.facts.rule_data

    async def broken_for_invoices(spec, since, now):
        if spec.kind == "invoice_unpaid":
            raise RuntimeError("the database is down (test)")
        return await real(spec, since, now)

    alerts.evaluation.facts.rule_data = broken_for_invoices
    clock.at = at(1)
    assert await alerts.evaluate_all() == 1
    assert fake.alert_events() == [("AlertRaised", "CP-1")]


async def test_a_dry_run_says_when_a_rule_would_have_fired_and_saves_nothing(fake, clock):
    await fake.feed(
        status("CP-1", 1, "Faulted", at(0), "HighTemperature"),
        status("CP-1", 1, "Available", at(20)),
        status("CP-1", 1, "Faulted", at(40)),
    )
    clock.at = at(60)
    alerts = fake.alerts(clock)
    found = await alerts.test_rule(
        RuleSpec.of({"kind": "charger_faulted", "window_sec": 900}), at(-60)
    )
    assert [(f.subject, f.fired_at, f.cleared_at) for f in found] == [
        ("CP-1", at(15), at(20)),
        ("CP-1", at(55), None),
    ]
    assert "HighTemperature" in found[0].detail
    assert await alerts.rules() == [] and fake.state.outbox == []
