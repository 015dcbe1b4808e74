"""The shipped scenarios against the embedded platform, in both OCPP versions, all at once (each
run's ids tagged apart): every step type (arrive/park, plug, authorize by card and remotely,
charge, stop by card and remotely, unplug, leave, wait; fault, recover, disconnect, reconnect,
reboot). The single visit's invoice is checked against T_STD's numbers (docs/billing.md)."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from simulators.scenario.model import builtin, load
from simulators.scenario.runner import ScenarioRunner
from simulators.scenario.summary import Summary

pytestmark = pytest.mark.asyncio(loop_scope="module")
SPEED = 600

# T_STD, from docs/billing.md (minor units, EUR).
ENERGY_PER_KWH = Decimal(39)
SESSION_FEE = 50
PARKING_PER_PERIOD, PERIOD_MIN, GRACE_MIN, DAILY_CAP = 50, 15, 15, 2000
IDLE_PER_MIN, IDLE_AFTER_MIN = 5, 30
TAX = Decimal("0.20")


def _t(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _whole_seconds(start: datetime, end: datetime) -> int:
    """Billing counts durations in whole seconds (docs/billing.md) before rounding up to started
    minutes or periods: a stay 9 min 0.4 s past its idle start is 9 idle minutes, not 10."""
    return max(0, int((end - start).total_seconds()))


def _round(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_invoice(visit: dict[str, Any]) -> dict[str, int]:
    """The T_STD price of one stay with its sessions, computed here from the tariff's numbers."""
    stay = visit["stay"]
    arrived, left = _t(stay["arrived_at"]), _t(stay["left_at"])
    lines = {"CHARGING": 0, "PARKING": 0, "IDLE": 0}
    for s in visit["sessions"]:
        lines["CHARGING"] += _round(Decimal(s["kwh"]) * ENERGY_PER_KWH) + SESSION_FEE
    minutes = _whole_seconds(arrived, left) / 60
    if minutes > GRACE_MIN:
        lines["PARKING"] = min(math.ceil(minutes / PERIOD_MIN) * PARKING_PER_PERIOD, DAILY_CAP)
    ended = max(_t(s["ended_at"]) for s in visit["sessions"])
    idle = _whole_seconds(ended, left) / 60 - IDLE_AFTER_MIN
    if idle > 0:
        lines["IDLE"] = math.ceil(idle) * IDLE_PER_MIN
    net = sum(lines.values())
    tax = _round(Decimal(net) * TAX)
    return {**lines, "net": net, "tax": tax, "total": net + tax}


async def play(site, name: str, tag: str, version: str | None = None) -> Summary:
    scenario = load(builtin(name))
    if version == "flip":  # every charger in the other version
        for c in scenario.chargers:
            c.ocpp = "2.0.1" if c.ocpp == "1.6" else "1.6"
    elif version:
        scenario = scenario.with_version(version)
    runner = ScenarioRunner(
        scenario.with_tag(tag),
        site.client,
        site.ocpp,
        speed=SPEED,
        out=lambda line: None,
        invoice_wait=30,
        meter_interval=300,
    )
    return await runner.run()


async def test_every_step_in_both_versions_and_the_single_visit_priced_by_the_tariff(site):
    runs = await asyncio.gather(
        play(site, "single-visit", "A", "1.6"),
        play(site, "single-visit", "B", "2.0.1"),
        play(site, "faults-and-recovery", "C"),
        play(site, "faults-and-recovery", "D", "flip"),
    )
    for summary in runs:
        assert summary.errors == [], summary.errors

    for single in runs[:2]:
        [session] = single.sessions
        assert (session["status"], session["kwh"], session["stop_reason"]) == (
            "closed",
            "14.300",
            "Local",
        )
        [invoice] = single.invoices
        assert (invoice["status"], invoice["provider"], invoice["currency"]) == (
            "paid",
            "local",
            "EUR",
        )
        visit = await site.client.get(f"/billing/visits/{invoice['visit_id']}")
        want = expected_invoice(visit)
        got = {line["kind"]: line["amount_minor"] for line in invoice["lines"]}
        assert got == {k: want[k] for k in ("CHARGING", "PARKING", "IDLE") if want[k]}
        assert (invoice["net_minor"], invoice["tax_minor"], invoice["total_minor"]) == (
            want["net"],
            want["tax"],
            want["total"],
        )
        assert got["CHARGING"] == 608  # 14.3 kWh x 39 = 557.7 -> 558, + 50

    for faults in runs[2:]:
        assert faults.visits == 4
        by_charger: dict[str, list[dict[str, Any]]] = {}
        for s in faults.sessions:
            by_charger.setdefault(s["charger_id"].split("-")[1], []).append(s)
        assert [s["kwh"] for s in by_charger["F1"]] == ["20.000"]  # the fault paused it
        [f2] = by_charger["F2"]
        assert (f2["kwh"], f2["stop_reason"]) == ("10.000", "Remote")
        if f2["charger_id"].startswith("SIM-F2") and f2["offline_events"]:
            assert f2["missing_seq_nos"] in (None, [])  # 2.0.1: replayed, seqNo continuing
        reasons = sorted(s["stop_reason"] for s in by_charger["F3"])
        assert len(reasons) == 2 and reasons[1] == "Local"  # rebooted, then charged again
        assert reasons[0] in ("HardReset", "ImmediateReset")
        assert len(faults.invoices) == 4
        statuses = sorted(i["status"] for i in faults.invoices)
        assert statuses == ["open", "paid", "paid", "paid"]  # the anonymous car's stays open
