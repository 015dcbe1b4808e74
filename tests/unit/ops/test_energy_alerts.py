"""The energy manager's events through ops' use cases on the in-memory fakes: ingestion keeps
the reports and refusals, and the three energy rule kinds open and resolve their incidents
(AlertRaised / AlertResolved) in event time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from ops.domain import RuleSpec
from ops.domain.energy import REFUSAL_HOLD
from tests.conftest import T0
from tests.support.fakes.ops import FakeOps
from tests.support.ops import refused, site_load

OK = (20.0, 20.0, 20.0)
OVER = (20.0, 35.0, 20.0)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def fake() -> FakeOps:
    return FakeOps()


async def run(fake: FakeOps, clock, alerts, events: list[dict[str, Any]], until: int) -> dict:
    """Every 15 s: the events of that time arrive, then the rules are evaluated; the changes."""
    pending = sorted(events, key=lambda e: e["ts"])
    changes = {}
    for second in range(0, until + 1, 15):
        clock.at = s(second)
        while pending and pending[0]["ts"] <= clock.at.isoformat().replace("+00:00", "Z"):
            await fake.feed(pending.pop(0))
        changed = await alerts.evaluate_all()
        if changed:
            changes[second] = changed
    return changes


async def test_ingestion_keeps_reports_their_chargers_and_refusals(fake):
    report = site_load("A", s(0), OVER, (32.0, 32.0, 32.0), ("CP-1", 1, 16.0, 15.5))
    await fake.feed(report, report, refused("A", "CP-2", s(3), "NotSupported"))
    [kept] = fake.state.site_loads.values()
    assert (kept.power_kw, kept.limit_kw, kept.drawn_amps) == (17.25, 22.08, OVER)
    [charger] = fake.state.charger_loads.values()
    assert (charger.subject, charger.limit_amps, charger.drawn_amps) == ("CP-1/1", 16.0, 15.5)
    [refusal] = fake.state.refusals.values()
    assert (refusal.site_id, refusal.charger_id, refusal.reason) == ("A", "CP-2", "NotSupported")


async def test_a_site_over_its_limit_raises_at_once_and_resolves_when_back_under(fake, clock):
    clock.at = s(-1)
    alerts = fake.alerts(clock)
    await alerts.create_rule(RuleSpec.of({"kind": "site_over_limit", "window_sec": 0}))
    drawn = {0: OK, 15: OK, 30: OVER, 45: OVER, 60: OVER, 75: OK, 90: OK}
    events = [site_load("A", s(t), d) for t, d in drawn.items()]
    assert await run(fake, clock, alerts, events, 90) == {30: 1, 75: 1}
    [incident] = await alerts.incidents(None, None, 10)
    assert incident["subject"] == "A"
    assert incident["message"] == "site A over its limit: L2 35 A of 32 A"
    assert (incident["fired_at"], incident["cleared_at"]) == (
        "2026-11-27T09:00:30Z",
        "2026-11-27T09:01:15Z",
    )
    assert fake.alert_events() == [("AlertRaised", "A"), ("AlertResolved", "A")]


async def test_a_charger_over_its_limit_raises_only_after_a_minute(fake, clock):
    clock.at = s(-1)
    alerts = fake.alerts(clock)
    await alerts.create_rule(RuleSpec.of({"kind": "charger_over_limit", "window_sec": 60}))

    def at(t: int, cp1: float, cp2: float) -> dict[str, Any]:
        return site_load("A", s(t), OK, OK, ("CP-1", 1, 16.0, cp1), ("CP-2", 1, 16.0, cp2))

    events = [
        # CP-1 over for 45 s only: nothing; CP-2 over from 60 s to 180 s: fires at 120 s
        *(
            at(t, 20.0 if 15 <= t < 60 else 16.5, 18.0 if 60 <= t < 180 else 16.0)
            for t in range(0, 241, 15)
        ),
    ]
    assert await run(fake, clock, alerts, events, 240) == {120: 1, 180: 1}
    [incident] = await alerts.incidents(None, None, 10)
    assert (incident["subject"], incident["state"]) == ("CP-2/1", "resolved")
    assert incident["fired_at"] == "2026-11-27T09:02:00Z"
    assert incident["message"] == (
        "charger CP-2/1 drew more than its limit for more than 1 min: "
        "site A: 18 A drawn, limit 16 A"
    )


async def test_repeated_refusals_of_a_charger_open_one_incident(fake, clock):
    clock.at = s(-1)
    alerts = fake.alerts(clock)
    rule = await alerts.create_rule(
        RuleSpec.of({"kind": "smart_charging_refused", "window_sec": 0})
    )
    await fake.feed(refused("A", "CP-9", s(0), "SetChargingProfile: Rejected"))
    clock.at = s(10)
    assert await alerts.evaluate_all() == 1
    for t in (20, 40, 600):
        await fake.feed(refused("A", "CP-9", s(t), "SetChargingProfile: Rejected"))
        clock.at = s(t + 5)
        assert await alerts.evaluate_all() == 0  # the same incident stays open
    [incident] = await alerts.incidents("open", rule["id"], 10)
    assert incident["subject"] == "CP-9"
    assert incident["message"] == (
        "charger CP-9 cannot be controlled (counted at its rated maximum): "
        "site A: SetChargingProfile: Rejected"
    )
    clock.at = s(600) + REFUSAL_HOLD + timedelta(seconds=1)
    assert await alerts.evaluate_all() == 1  # a day without a refusal: taken to be fixed
    assert fake.alert_events() == [("AlertRaised", "CP-9"), ("AlertResolved", "CP-9")]


async def test_energy_rules_filter_by_site_and_charger(fake, clock):
    clock.at = s(-1)
    alerts = fake.alerts(clock)
    await alerts.create_rule(
        RuleSpec.of({"kind": "site_over_limit", "window_sec": 0, "lot_id": "B"})
    )
    await alerts.create_rule(
        RuleSpec.of({"kind": "smart_charging_refused", "window_sec": 0, "charger_id": "CP-2"})
    )
    await fake.feed(
        site_load("A", s(0), OVER),
        site_load("B", s(0), OK),
        refused("A", "CP-1", s(0)),
    )
    clock.at = s(5)
    assert await alerts.evaluate_all() == 0
