"""What a scenario run reports: its sessions and invoices read back, the retries it needed, and
the lines `sim run` and `demo` print of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulators.retry import RetryStats


@dataclass
class Summary:
    scenario: str
    chargers: int
    cars: int
    visits: int
    sessions: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None  # simulated: the timeline's zero
    ended_at: datetime | None = None
    rest: RetryStats = field(default_factory=RetryStats)  # REST calls tried again
    connections_lost: int = 0  # charger connections dropped without the script asking
    connect_failures: int = 0  # charger connection attempts refused or failed
    reconnects: int = 0  # charger connections after each one's first
    still_queued: int = 0  # transaction messages no charger could deliver by the end

    @property
    def kwh(self) -> Decimal:
        return sum((Decimal(s["kwh"]) for s in self.sessions if s.get("kwh")), Decimal(0))

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for inv in self.invoices:
            out[inv["currency"]] = out.get(inv["currency"], 0) + inv["total_minor"]
        return out


def render_summary(summary: Summary, base_url: str) -> list[str]:
    lines = ["", f"=== summary: {summary.scenario} ==="]
    closed = [s for s in summary.sessions if s["status"] == "closed"]
    lines.append(
        f"chargers {summary.chargers}, cars {summary.cars}, visits {summary.visits}, "
        f"sessions {len(summary.sessions)} ({len(closed)} closed), "
        f"energy {summary.kwh:.3f} kWh"
    )
    for s in summary.sessions[:10]:
        lines.append(
            f"  session {s['id'][:8]} {s['charger_id']}/{s['evse_id']} {s['status']:<7} "
            f"{s['kwh'] or '-':>8} kWh  {(s['duration_sec'] or 0) // 60:>4} min  "
            f"{s['regnum'] or '-'}  {s['stop_reason'] or ''}"
        )
    if len(summary.sessions) > 10:
        lines.append(f"  ... and {len(summary.sessions) - 10} more")
    by_status: dict[str, int] = {}
    for inv in summary.invoices:
        by_status[inv["status"]] = by_status.get(inv["status"], 0) + 1
    totals = ", ".join(f"{_money(v)} {k}" for k, v in summary.totals().items()) or "-"
    lines.append(
        f"invoices {len(summary.invoices)} ("
        + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
        + f"), total {totals}"
    )
    for inv in summary.invoices[:5]:
        lines.append(
            f"  invoice {inv['id']} {inv['status']}: net {_money(inv['net_minor'])} + tax "
            f"{_money(inv['tax_minor'])} = {_money(inv['total_minor'])} {inv['currency']}"
        )
        for line in inv.get("lines", []):
            lines.append(
                f"    {line['kind']:<9} {_money(line['amount_minor']):>8}  {line['description']}"
            )
    if len(summary.invoices) > 5:
        lines.append(f"  ... and {len(summary.invoices) - 5} more")
    if summary.visits and len(summary.invoices) < summary.visits:
        lines.append(
            f"  {summary.visits - len(summary.invoices)} visit(s) not invoiced yet: billing "
            "invoices a visit once it has been quiet for CHARGEPARK_BILLING_SETTLE_SEC"
        )
    # An outage the run rode out stays visible: how often it had to try again.
    lines.append(
        f"retries: REST {summary.rest.describe()}; OCPP {summary.connections_lost} "
        f"connection(s) lost, {summary.connect_failures} failed connection attempt(s), "
        f"{summary.reconnects} reconnect(s)"
        + (f", {summary.still_queued} message(s) undelivered" if summary.still_queued else "")
    )
    if summary.errors:
        lines.append(f"problems: {len(summary.errors)}")
        lines += [f"  {e}" for e in summary.errors[:10]]
    lines.append(f"look: {base_url}/charging/sessions  {base_url}/billing/invoices")
    return lines


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02}"
