"""Alert rules evaluated minute by minute over synthetic streams: each rule kind opens one
incident when its condition has held for longer than its window, keeps it open (no storm) and
resolves it once when the condition clears; AlertRaised and AlertResolved go to the outbox."""

from __future__ import annotations

from typing import Any

import pytest

from ops.api.common import CAPACITIES
from ops.domain import RuleSpec
from ops.domain.capacity import LevelCapacity
from tests.support.ops import (
    Ops,
    at,
    issued,
    left,
    paid,
    parked,
    started,
    status,
)


async def run(ops: Ops, events: list[dict[str, Any]], minutes: range) -> list[int]:
    """Each minute: the events that happened by then arrive, then the rules are evaluated."""
    pending = sorted(events, key=lambda e: e["ts"])
    changes = []
    for minute in minutes:
        ops.clock.at = at(minute)
        while pending and pending[0]["ts"] <= ops.clock.at.isoformat().replace("+00:00", "Z"):
            await ops.feed(pending.pop(0))
        changes.append(await ops.alerts.evaluate_all())
    return changes


async def alerts_out(ops: Ops) -> list[tuple[str, str]]:
    return [(e["event"], e["subject"]) for e in await ops.outbox() if e["event"].startswith("Al")]


async def a_rule(ops: Ops, **body: Any) -> dict[str, Any]:
    return await ops.alerts.create_rule(RuleSpec.of(body))


CASES = {
    "charger_faulted": (
        {"kind": "charger_faulted", "window_sec": 600},
        [
            status("CP-1", 1, "Available", at(-5)),
            status("CP-1", 2, "Available", at(-5)),
            status("CP-1", 1, "Faulted", at(5), "GroundFailure"),
            status("CP-1", 2, "Faulted", at(6), "GroundFailure"),  # same charger: same incident
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
            # leaving at 30 (fed from the leave event below)
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
        [issued("inv-1", at(5), 1000), paid("inv-1", at(30), 1000), issued("inv-2", at(40), 9)],
        "inv-1",
        (15, 30),
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_each_rule_kind_fires_once_and_resolves_once(ops, kind):
    body, events, subject, (fires, clears) = CASES[kind]
    if kind == "occupancy_high":
        await ops.parts.app[CAPACITIES].replace("A", [LevelCapacity("P0", 2, 0)])
        events = [*events, left("A", "2", at(5), at(30), regnum="CD456")]
    ops.clock.at = at(-10)
    rule = await a_rule(ops, **body)

    minutes = range(-8, 36, 2)
    changes = dict(zip(minutes, await run(ops, events, minutes), strict=True))
    assert sum(changes.values()) == 2
    opened_at = min(m for m in minutes if m >= fires)
    resolved_at = min(m for m in minutes if m >= clears)
    assert changes[opened_at] == 1 and changes[resolved_at] == 1  # opened, then resolved
    [incident] = await ops.alerts.incidents(None, rule["id"], 10)
    assert incident["subject"] == subject and incident["state"] == "resolved"
    assert incident["fired_at"] == at(fires).isoformat().replace("+00:00", "Z")
    assert incident["opened_at"] == at(opened_at).isoformat().replace("+00:00", "Z")
    assert await alerts_out(ops) == [("AlertRaised", subject), ("AlertResolved", subject)]
    assert await ops.alerts.evaluate_all() == 0  # and nothing more


async def test_a_condition_that_fires_and_clears_between_two_evaluations_still_counts(ops):
    ops.clock.at = at(0)
    await a_rule(ops, kind="charger_faulted", window_sec=300)
    await ops.feed(status("CP-1", 1, "Faulted", at(2)), status("CP-1", 1, "Available", at(20)))
    ops.clock.at = at(30)
    assert await ops.alerts.evaluate_all() == 2
    [incident] = await ops.alerts.incidents("resolved", None, 10)
    assert (incident["fired_at"], incident["cleared_at"]) == (
        "2026-11-27T09:07:00Z",
        "2026-11-27T09:20:00Z",
    )
    ops.clock.at = at(31)
    assert await ops.alerts.evaluate_all() == 0
    assert await alerts_out(ops) == [("AlertRaised", "CP-1"), ("AlertResolved", "CP-1")]


async def test_a_late_fault_opens_its_incident_at_the_next_evaluation(ops):
    ops.clock.at = at(0)
    await a_rule(ops, kind="charger_faulted", window_sec=300)
    ops.clock.at = at(30)
    assert await ops.alerts.evaluate_all() == 0
    await ops.feed(status("CP-1", 1, "Faulted", at(10)))  # arrives 20 minutes late
    ops.clock.at = at(31)
    assert await ops.alerts.evaluate_all() == 1
    [incident] = await ops.alerts.incidents("open", None, 10)
    assert incident["condition_since"] == "2026-11-27T09:10:00Z"
    assert incident["fired_at"] == "2026-11-27T09:15:00Z"


async def test_disabling_or_deleting_a_rule_resolves_its_open_incidents(ops):
    ops.clock.at = at(0)
    first = await a_rule(ops, kind="charger_faulted", window_sec=60)
    second = await a_rule(ops, kind="charger_faulted", window_sec=60, name="copy")
    await ops.feed(status("CP-1", 1, "Faulted", at(0)))
    ops.clock.at = at(5)
    assert await ops.alerts.evaluate_all() == 2
    spec = RuleSpec.of({"kind": "charger_faulted", "window_sec": 60, "enabled": False})
    await ops.alerts.replace_rule(first["id"], spec)
    await ops.alerts.delete_rule(second["id"])
    assert await ops.alerts.incidents("open", None, 10) == []
    assert [e for e, _ in await alerts_out(ops)] == ["AlertRaised"] * 2 + ["AlertResolved"] * 2
    ops.clock.at = at(6)
    assert await ops.alerts.evaluate_all() == 0  # disabled: not evaluated


async def test_a_dry_run_says_whether_and_when_a_rule_would_have_fired(ops):
    await ops.feed(
        status("CP-1", 1, "Faulted", at(0), "HighTemperature"),
        status("CP-1", 1, "Available", at(20)),
        status("CP-1", 1, "Faulted", at(40)),
        status("CP-2", 1, "Faulted", at(50)),
    )
    ops.clock.at = at(60)
    spec = RuleSpec.of({"kind": "charger_faulted", "window_sec": 900})
    found = await ops.alerts.test_rule(spec, at(-60))
    assert [(f.subject, f.fired_at, f.cleared_at) for f in found] == [
        ("CP-1", at(15), at(20)),
        ("CP-1", at(55), None),
    ]
    assert "HighTemperature" in found[0].detail
    # nothing saved: only the built-in rules, and no incident
    assert all(r["id"].startswith("builtin-") for r in await ops.alerts.rules())
    assert await ops.alerts.incidents(None, None, 10) == []
