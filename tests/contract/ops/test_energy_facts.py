"""The energy manager's facts (site load reports, their chargers' lines, refusals) kept through
ingestion's FactStore and read back through the RuleFacts port: the same cases on the fake,
SQLite and PostgreSQL. Repeats change nothing; reports reach back a window and a staleness
before the period, refusals a hold."""

from __future__ import annotations

from datetime import datetime, timedelta

from ops.domain import RuleSpec
from ops.domain.energy import REFUSAL_HOLD, ChargerLoad, Refusal, SiteLoad
from tests.conftest import T0


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(site: str, at: float, drawn: float) -> SiteLoad:
    return SiteLoad(
        site_id=site,
        at=s(at),
        phases=3,
        voltage=230.0,
        limit_amps=(32.0, 32.0, 31.5),
        other_load_amps=(1.0, 2.0, -3.0),
        allocated_amps=(30.0, 30.0, 30.0),
        drawn_amps=(drawn, drawn, 0.0),
    )


def line(charger: str, at: float, drawn: float | None, site: str = "A") -> ChargerLoad:
    return ChargerLoad(
        site_id=site,
        charger_id=charger,
        evse_id=1,
        at=s(at),
        limit_amps=16.0,
        drawn_amps=drawn,
        paused=False,
    )


async def test_site_loads_and_charger_lines_read_back_for_the_rules(store):
    async with store.units() as uow:
        for at in (-400, -100, 0, 30):
            await uow.facts.site_load(report("A", at, 10.0 + at / 100), [line("CP-1", at, 12.5)])
        await uow.facts.site_load(report("A", 0, 99.0), [line("CP-1", 0, 99.0)])  # a repeat
        await uow.facts.site_load(report("B", 0, 5.0), [line("CP-2", 0, None, site="B")])
        await uow.commit()

    site = RuleSpec.of({"kind": "site_over_limit", "window_sec": 60, "lot_id": "A"})
    data = await store.facts.rule_data(site, s(0), s(30))
    # from the window (60 s) and a staleness (120 s) back; the end of the period included
    assert sorted(r.at for r in data.site_loads) == [s(-100), s(0), s(30)]
    assert data.charger_loads == []
    [first] = [r for r in data.site_loads if r.at == s(0)]
    assert first == report("A", 0, 10.0)
    assert first.other_load_amps == (1.0, 2.0, -3.0)

    charger = RuleSpec.of({"kind": "charger_over_limit", "window_sec": 60, "charger_id": "CP-2"})
    data = await store.facts.rule_data(charger, s(0), s(30))
    assert {r.site_id for r in data.site_loads} == {"A", "B"}
    assert data.charger_loads == [line("CP-2", 0, None, site="B")]


async def test_refusals_read_back_from_a_hold_before_the_period(store):
    async with store.units() as uow:
        for at, charger in ((-1, "CP-1"), (0, "CP-1"), (0, "CP-2"), (10, "CP-1")):
            refusal = Refusal(
                site_id="A", charger_id=charger, at=s(at) - REFUSAL_HOLD, reason="Rejected"
            )
            await uow.facts.smart_charging_refused(refusal)
        await uow.facts.smart_charging_refused(
            Refusal(site_id="A", charger_id="CP-1", at=s(10) - REFUSAL_HOLD, reason="again")
        )  # a repeat of (charger, time): the first is kept
        await uow.commit()
    spec = RuleSpec.of({"kind": "smart_charging_refused", "window_sec": 0, "charger_id": "CP-1"})
    data = await store.facts.rule_data(spec, s(0), s(30))
    assert sorted((r.at, r.reason) for r in data.refusals) == [
        (s(0) - REFUSAL_HOLD, "Rejected"),
        (s(10) - REFUSAL_HOLD, "Rejected"),
    ]
