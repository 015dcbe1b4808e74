"""What must hold after the faults: each finished visit invoiced once, at the tariff applied to
what the cars and chargers did; one payment per invoice at Stripe; no event left in an outbox.

The expected invoice is recomputed here from the driver's own record of the visit (the park and
leave times it sent, the transaction messages the CSMS accepted, the energy it delivered) with
billing's domain functions and the seeded tariff T_STD, never from billing's own state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from billing.domain.pricing import totals
from billing.domain.tariff import standard_tariff, tariff_chooser
from billing.domain.visits import SessionFact, StayFact, StayKey, Visit, price_visit
from chargepark.clock import as_utc
from tests.chaos.load import LOT, Charger, Load, Rest, VisitTruth
from tests.support.fake_stripe import FakeStripe

CHOOSE = tariff_chooser({"T_STD": [standard_tariff()]})


def _time(raw: str) -> datetime:
    return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))


def transaction_times(charger: Charger) -> dict[str, tuple[datetime | None, datetime | None]]:
    """transaction id -> (start, end) as the CSMS accepted them, from the messages themselves."""
    times: dict[str, list[datetime | None]] = {}
    for name, request, result in charger.accepted_messages:
        if name == "StartTransaction":
            times.setdefault(str(result.transaction_id), [None, None])[0] = _time(request.timestamp)
        elif name == "StopTransaction":
            times.setdefault(str(request.transaction_id), [None, None])[1] = _time(
                request.timestamp
            )
        else:
            tid = request.transaction_info["transaction_id"]
            if request.event_type == "Started":
                times.setdefault(tid, [None, None])[0] = _time(request.timestamp)
            elif request.event_type == "Ended":
                times.setdefault(tid, [None, None])[1] = _time(request.timestamp)
    return {tid: (start, end) for tid, (start, end) in times.items()}


def expected_invoice(visit: VisitTruth, chargers: dict[str, Charger]) -> tuple[list, int]:
    """The lines (kind, amount) and total T_STD gives the visit as it happened."""
    assert visit.left_at is not None
    bay = visit.bay
    stay = StayFact(
        StayKey(LOT, visit.regnum, visit.arrived_at),
        charger_id=bay[0] if bay else None,
        connector_id=bay[1] if bay else None,
        left_at=visit.left_at,
    )
    sessions = []
    for s in visit.sessions:
        tid = s.tx_key.transaction_id
        start, end = transaction_times(chargers[s.charger_id]).get(tid, (None, None))
        if start is None or end is None:
            raise LookupError(f"{s.charger_id}: transaction {tid} was not accepted by the csms")
        sessions.append(
            SessionFact(
                session_id=tid,
                charger_id=s.charger_id,
                evse_id=s.evse_id,
                connector_id=1,
                started_at=start,
                ended_at=end,
                kwh=s.kwh,
                closed_seen=True,
            )
        )
    lines, tariff = price_visit(Visit(stay.visit_id, stay, tuple(sessions)), CHOOSE)
    return [(str(line.kind), line.amount_minor) for line in lines], totals(
        lines, tariff.tax_percent
    ).total_minor


async def all_invoices(api: Rest, since: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        _, page = await api.call(
            "GET", f"/billing/invoices?from={since}&limit=1000&after={after}", ok=(200,)
        )
        items += page["items"]
        if page.get("next_after") is None:
            return items
        after = page["next_after"]


@dataclass
class Findings:
    visits: int = 0
    invoices: int = 0
    paid: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.problems.append(text)


async def check_invoices(
    load: Load, invoices: list[dict[str, Any]], api: Rest, stripe: FakeStripe
) -> Findings:
    found = Findings()
    finished = [v for v in load.visits if v.left_at is not None]
    found.visits = len(finished)
    by_visit: dict[str, list[dict[str, Any]]] = {}
    for inv in invoices:
        by_visit.setdefault(inv["visit_id"] or f"none:{inv['id']}", []).append(inv)
    ours = set()
    for visit in finished:
        vid = StayKey(LOT, visit.regnum, visit.arrived_at).visit_id
        ours.add(vid)
        got = by_visit.get(vid, [])
        if len(got) != 1:
            found.add(f"visit {visit.regnum}@{visit.arrived_at}: {len(got)} invoices")
            continue
        _, inv = await api.call("GET", f"/billing/invoices/{got[0]['id']}", ok=(200,))
        try:
            lines, total = expected_invoice(visit, load.chargers)
        except LookupError as exc:
            found.add(f"visit {visit.regnum}@{visit.arrived_at}: {exc}")
            continue
        billed = [(line["kind"], line["amount_minor"]) for line in inv["lines"]]
        if billed != lines or inv["total_minor"] != total:
            found.add(
                f"invoice {inv['id']} of {visit.regnum}: {billed} = {inv['total_minor']}, "
                f"expected {lines} = {total}"
            )
        if visit.customer_id is not None:
            if inv["customer_id"] != visit.customer_id:
                found.add(f"invoice {inv['id']}: customer {inv['customer_id']}")
            if inv["status"] != "paid":
                keep = ("provider_invoice_id", "last_error", "next_attempt_at", "payment_attempts")
                found.add(
                    f"invoice {inv['id']} of {visit.regnum} is {inv['status']}: "
                    + json.dumps({k: inv.get(k) for k in keep})[:600]
                )
            else:
                found.paid += 1
                check_stripe(found, inv, stripe)
    strays = [i for v, group in by_visit.items() if v not in ours for i in group]
    for inv in strays:
        _, full = await api.call("GET", f"/billing/invoices/{inv['id']}", ok=(200,))
        lines = [(line["kind"], line["amount_minor"], line["session_id"]) for line in full["lines"]]
        found.add(
            f"invoice {inv['id']} ({inv['visit_id']}, {inv['status']}) is of no visit the load "
            f"made: {lines}"
        )
    found.invoices = len(invoices)
    return found


def check_stripe(found: Findings, inv: dict[str, Any], stripe: FakeStripe) -> None:
    """One Stripe invoice for ours, one succeeded charge for it, of its total."""
    at_stripe = [
        s
        for s in stripe.invoices.values()
        if s["metadata"].get("chargepark_invoice_id") == inv["id"]
    ]
    if len(at_stripe) != 1:
        found.add(f"invoice {inv['id']}: {len(at_stripe)} Stripe invoices")
        return
    charges = stripe.succeeded_charges(at_stripe[0]["id"])
    if [c["amount"] for c in charges] != [inv["total_minor"]]:
        found.add(
            f"invoice {inv['id']} ({inv['total_minor']}): charges "
            f"{[c['amount'] for c in charges]} at Stripe"
        )


async def localstripe_succeeded(localstripe: str, key: str) -> list[dict[str, Any]]:
    """Every succeeded charge localstripe itself holds (not the fake's copy)."""
    import aiohttp

    found: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as s:
        starting_after = None
        while True:
            params = {"limit": "100"}
            if starting_after:
                params["starting_after"] = starting_after
            headers = {"Authorization": f"Bearer {key}"}
            async with s.get(f"{localstripe}/v1/charges", params=params, headers=headers) as r:
                assert r.status == 200, await r.text()
                page = await r.json()
            found += [c for c in page["data"] if c["status"] == "succeeded"]
            if not page.get("has_more") or not page["data"]:
                return found
            starting_after = page["data"][-1]["id"]


async def unsent_outbox(pg_port: int, databases: list[str]) -> dict[str, tuple[int, int]]:
    """database -> (outbox rows not sent, dead letters)."""
    out: dict[str, tuple[int, int]] = {}
    for name in databases:
        conn = await asyncpg.connect(host="127.0.0.1", port=pg_port, user="postgres", database=name)
        try:
            unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
        finally:
            await conn.close()
        out[name] = (unsent, dead)
    return out
