"""Lot energy management as ops sees it, from the energy manager's events: a site's load per
report (SiteLoadReported), its chargers' limits and draws, and the chargers that refused smart
charging (SmartChargingRefused); and when the alert conditions on them held.

A report describes the site from its time until the next report. The energy manager reports
every site at least every 15 s, so a report older than STALE no longer says anything: a
condition that no newer report confirms ends STALE after the last report that showed it (ops
does not keep an alert open on what it no longer knows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops.domain.rules import Span

Amps = tuple[float, float, float]  # L1, L2, L3

STALE = timedelta(minutes=2)
# A refusal keeps its incident open this long after the charger's last refusal: the energy
# manager tries again at each boot, reconnect and allocation round, so a charger that still
# refuses renews it; one that has been quiet for a day is taken to be fixed.
REFUSAL_HOLD = timedelta(hours=24)


def kw(amps: Amps, voltage: float) -> float:
    """Power of three phase currents at a phase-to-neutral voltage, kW."""
    return round(sum(amps) * voltage / 1000, 3)


@dataclass(frozen=True, kw_only=True)
class SiteLoad:
    site_id: str
    at: datetime
    phases: int
    voltage: float
    limit_amps: Amps  # the site's limit in force minus margin minus other load
    other_load_amps: Amps
    allocated_amps: Amps  # the sum of the limits in force on its chargers
    drawn_amps: Amps  # measured

    @property
    def power_kw(self) -> float:
        return kw(self.drawn_amps, self.voltage)

    @property
    def limit_kw(self) -> float:
        return kw(self.limit_amps, self.voltage)

    @property
    def allocated_kw(self) -> float:
        return kw(self.allocated_amps, self.voltage)

    def phases_over(self, tolerance: float) -> list[int]:
        """The phases (1-3) drawing more than their limit plus `tolerance`."""
        pairs = zip(self.drawn_amps, self.limit_amps, strict=True)
        return [n for n, (drawn, limit) in enumerate(pairs, 1) if drawn > limit + tolerance]

    def as_json(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "at": self.at,
            "phases": self.phases,
            "voltage": self.voltage,
            "power_kw": self.power_kw,
            "limit_kw": self.limit_kw,
            "allocated_kw": self.allocated_kw,
            "over_limit": bool(self.phases_over(0.0)),
            "drawn_amps": list(self.drawn_amps),
            "limit_amps": list(self.limit_amps),
            "allocated_amps": list(self.allocated_amps),
            "other_load_amps": list(self.other_load_amps),
        }


@dataclass(frozen=True, kw_only=True)
class ChargerLoad:
    """One charger's (EVSE's) line of a site's report."""

    site_id: str
    charger_id: str
    evse_id: int
    at: datetime
    limit_amps: float
    drawn_amps: float | None  # None: not measured
    paused: bool

    @property
    def subject(self) -> str:
        return f"{self.charger_id}/{self.evse_id}"

    def over(self, tolerance: float) -> bool:
        return self.drawn_amps is not None and self.drawn_amps > self.limit_amps + tolerance

    def as_json(self) -> dict[str, Any]:
        return {
            "charger_id": self.charger_id,
            "evse_id": self.evse_id,
            "limit_amps": self.limit_amps,
            "drawn_amps": self.drawn_amps,
            "paused": self.paused,
        }


@dataclass(frozen=True, kw_only=True)
class Refusal:
    site_id: str
    charger_id: str
    at: datetime
    reason: str


def _sweep(times: Sequence[datetime], over_at: dict[datetime, dict[str, str]]) -> list[Span]:
    """Spans per subject from reports at `times` (in order), each naming the subjects over
    then with a detail; a subject not named by a report is not over. A gap longer than STALE
    ends what was open at the last report + STALE, and so does the end of the reports."""
    spans: list[Span] = []
    open_: dict[str, tuple[datetime, str]] = {}
    previous: datetime | None = None
    for at in times:
        if previous is not None and at - previous > STALE:
            spans += [Span(s, start, previous + STALE, d) for s, (start, d) in open_.items()]
            open_ = {}
        now_over = over_at.get(at, {})
        for subject in [s for s in open_ if s not in now_over]:
            start, detail = open_.pop(subject)
            spans.append(Span(subject, start, at, detail))
        for subject, detail in now_over.items():
            open_.setdefault(subject, (at, detail))
        previous = at
    if previous is not None:
        spans += [Span(s, start, previous + STALE, d) for s, (start, d) in open_.items()]
    return sorted(spans, key=lambda s: (s.start, s.subject))


def site_over_limit_spans(loads: Iterable[SiteLoad], tolerance: float) -> list[Span]:
    """Per site, when it drew more than its limit (plus `tolerance`) on any phase."""
    by_site: dict[str, list[SiteLoad]] = defaultdict(list)
    for load in loads:
        by_site[load.site_id].append(load)
    spans = []
    for site_id, reports in sorted(by_site.items()):
        reports.sort(key=lambda r: r.at)
        over: dict[datetime, dict[str, str]] = {}
        for r in reports:
            phases = r.phases_over(tolerance)
            if phases:
                over[r.at] = {site_id: _site_detail(r, phases)}
        spans += _sweep([r.at for r in reports], over)
    return spans


def _site_detail(report: SiteLoad, phases: list[int]) -> str:
    return ", ".join(
        f"L{n} {report.drawn_amps[n - 1]:g} A of {report.limit_amps[n - 1]:g} A" for n in phases
    )


def charger_over_limit_spans(
    sites: Iterable[SiteLoad], chargers: Iterable[ChargerLoad], tolerance: float
) -> list[Span]:
    """Per charger EVSE (subject "charger/evse"), when it drew more than its limit plus
    `tolerance`. The site reports give the times: a charger missing from one is not over."""
    times: dict[str, set[datetime]] = defaultdict(set)
    for site in sites:
        times[site.site_id].add(site.at)
    over: dict[str, dict[datetime, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for c in chargers:
        times[c.site_id].add(c.at)
        if c.over(tolerance):
            detail = f"site {c.site_id}: {c.drawn_amps:g} A drawn, limit {c.limit_amps:g} A"
            over[c.site_id][c.at][c.subject] = detail
    spans = []
    for site_id, at in sorted(times.items()):
        spans += _sweep(sorted(at), over.get(site_id, {}))
    return sorted(spans, key=lambda s: (s.start, s.subject))


def refusal_spans(refusals: Iterable[Refusal]) -> list[Span]:
    """Per charger, from a refusal until REFUSAL_HOLD after the last one that followed within
    the hold: repeated refusals make one span, so one incident."""
    by_charger: dict[str, list[Refusal]] = defaultdict(list)
    for r in refusals:
        by_charger[r.charger_id].append(r)
    spans = []
    for charger_id, found in sorted(by_charger.items()):
        found.sort(key=lambda r: r.at)
        first = last = found[0]
        for r in found[1:]:
            if r.at > last.at + REFUSAL_HOLD:
                spans.append(_refused(charger_id, first, last))
                first = r
            last = r
        spans.append(_refused(charger_id, first, last))
    return spans


def _refused(charger_id: str, first: Refusal, last: Refusal) -> Span:
    detail = f"site {first.site_id}: {first.reason}"
    return Span(charger_id, first.at, last.at + REFUSAL_HOLD, detail)
