"""Lot energy management in ops' domain: a site's power from its per-phase currents, when a site
or a charger was over its limit (reports are samples: a condition lasts from the report that
shows it to the first that does not, or goes stale), refusals of smart charging merged per
charger, and the rule definitions of the three kinds."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chargepark.errors import Invalid
from ops.domain import RuleSpec, Span
from ops.domain.energy import (
    REFUSAL_HOLD,
    STALE,
    ChargerLoad,
    Refusal,
    SiteLoad,
    charger_over_limit_spans,
    kw,
    refusal_spans,
    site_over_limit_spans,
)
from tests.conftest import T0


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(at: float, drawn: tuple[float, float, float], site: str = "A") -> SiteLoad:
    return SiteLoad(
        site_id=site,
        at=s(at),
        phases=3,
        voltage=230.0,
        limit_amps=(32.0, 32.0, 32.0),
        other_load_amps=(5.0, 5.0, 5.0),
        allocated_amps=(30.0, 30.0, 30.0),
        drawn_amps=drawn,
    )


def line(at: float, drawn: float | None, limit: float = 16.0, evse: int = 1) -> ChargerLoad:
    return ChargerLoad(
        site_id="A",
        charger_id="CP-1",
        evse_id=evse,
        at=s(at),
        limit_amps=limit,
        drawn_amps=drawn,
        paused=limit == 0,
    )


def test_power_is_the_phase_currents_at_the_voltage():
    r = report(0, (10.0, 20.0, 0.0))
    assert kw((10.0, 10.0, 10.0), 230.0) == 6.9
    assert (r.power_kw, r.limit_kw, r.allocated_kw) == (6.9, 22.08, 20.7)
    assert r.as_json()["over_limit"] is False
    assert report(0, (10.0, 33.0, 0.0)).as_json()["over_limit"] is True


def test_a_site_is_over_its_limit_from_the_report_that_shows_it_to_the_first_that_does_not():
    ok, over = (30.0, 31.0, 32.0), (30.0, 40.5, 32.0)
    reports = [report(t, d) for t, d in ((0, ok), (15, over), (30, over), (45, ok), (60, ok))]
    assert site_over_limit_spans(reversed(reports), 0.0) == [
        Span("A", s(15), s(45), "L2 40.5 A of 32 A")
    ]
    assert site_over_limit_spans(reports, tolerance=10.0) == []  # within the tolerance


def test_reports_that_stop_or_pause_end_a_condition_once_stale():
    over = (40.0, 0.0, 0.0)
    gap = STALE.total_seconds() + 60
    reports = [report(0, over), report(gap, over), report(gap + 15, over, site="B")]
    assert site_over_limit_spans(reports, 0.0) == [
        Span("A", s(0), s(0) + STALE, "L1 40 A of 32 A"),
        Span("A", s(gap), s(gap) + STALE, "L1 40 A of 32 A"),  # still holding until then
        Span("B", s(gap + 15), s(gap + 15) + STALE, "L1 40 A of 32 A"),
    ]


def test_a_charger_is_over_its_limit_while_its_reports_say_so():
    sites = [report(t, (0.0, 0.0, 0.0)) for t in range(0, 106, 15)]
    lines = [
        line(0, 15.0),
        line(15, 17.5),  # over: more than 16 + 1
        line(30, 20.0),
        line(45, 16.9),  # within the tolerance: ends
        line(60, 30.0),
        # 75: missing from the report (it left the site): not over
        line(90, None),  # not measured: not over
        line(105, 40.0, limit=0.0),  # paused, yet drawing
        line(0, 40.0, evse=2),
    ]
    spans = charger_over_limit_spans(sites, lines, 1.0)
    assert [(x.subject, x.start, x.end) for x in spans] == [
        ("CP-1/2", s(0), s(15)),
        ("CP-1/1", s(15), s(45)),
        ("CP-1/1", s(60), s(75)),
        ("CP-1/1", s(105), s(105) + STALE),
    ]
    assert spans[1].detail == "site A: 17.5 A drawn, limit 16 A"


def test_repeated_refusals_of_a_charger_make_one_span():
    def refusal(charger: str, at: datetime, reason: str = "Rejected") -> Refusal:
        return Refusal(site_id="A", charger_id=charger, at=at, reason=reason)

    later = s(0) + REFUSAL_HOLD * 3
    found = refusal_spans(
        [
            refusal("CP-1", s(60), "again"),
            refusal("CP-1", s(0), "NotSupported"),
            refusal("CP-2", s(30)),
            refusal("CP-1", later),
        ]
    )
    assert found == [
        Span("CP-1", s(0), s(60) + REFUSAL_HOLD, "site A: NotSupported"),
        Span("CP-1", later, later + REFUSAL_HOLD, "site A: Rejected"),
        Span("CP-2", s(30), s(30) + REFUSAL_HOLD, "site A: Rejected"),
    ]


def test_energy_rule_definitions():
    charger = RuleSpec.of({"kind": "charger_over_limit", "window_sec": 60, "lot_id": "A"})
    assert (charger.tolerance, charger.as_json()["tolerance_amps"]) == (1.0, None)
    site = RuleSpec.of({"kind": "site_over_limit", "window_sec": 0, "tolerance_amps": 2})
    assert site.tolerance == 2
    assert RuleSpec.of({"kind": "site_over_limit", "window_sec": 0}).tolerance == 0.0
    refused = {"kind": "smart_charging_refused", "window_sec": 0, "charger_id": "CP-1"}
    assert RuleSpec.of(refused).charger_id == "CP-1"
    for wrong in (
        {"kind": "charger_faulted", "window_sec": 60, "tolerance_amps": 1},
        {"kind": "site_over_limit", "window_sec": 0, "charger_id": "CP-1"},
        {"kind": "invoice_unpaid", "window_sec": 0, "lot_id": "A"},
    ):
        with pytest.raises(Invalid):
            RuleSpec.of(wrong)
