"""After the timeline: what the platform made of the run, read back over REST (the sessions of
its chargers, the invoices of its visits, polled until billing has settled them)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

from chargepark.clock import parse_utc
from simulators.clock import isoformat
from simulators.rest import RestError
from simulators.retry import RetryStats, reset, within
from simulators.scenario.state import RunState
from simulators.scenario.summary import Summary


class Results(RunState):
    async def summary(self, ended: datetime) -> Summary:
        visits = sum(c.visits for c in self.cars.values())
        summary = Summary(
            self.scenario.name,
            len(self.sims),
            len(self.cars),
            visits,
            errors=self.errors,
            started_at=self.t0,
            ended_at=ended,
        )
        for cp in self.sims.values():
            summary.connections_lost += cp.drops
            summary.connect_failures += cp.connect_failures
            summary.reconnects += max(0, cp.connects - 1)
            if len(cp.queue):
                summary.still_queued += len(cp.queue)
                self.errors.append(
                    f"{cp.id}: {len(cp.queue)} transaction message(s) still queued "
                    f"({', '.join(cp.queue.actions()[:3])}): "
                    + ("connected" if cp.accepted else "not connected")
                )
        for cp_id in self.sims:
            try:
                page = await self.client.get("/charging/sessions", charger_id=cp_id, limit=200)
            except RestError as exc:
                self.errors.append(f"sessions of {cp_id} not read: {exc}")
                continue
            summary.sessions += [s for s in page["items"] if self._of_this_run(s)]
        if visits:
            self.out(f"waiting for billing to invoice {visits} visit(s) ...")
            summary.invoices = await self._invoices(visits)
        rest = getattr(self.client, "stats", None)
        if isinstance(rest, RetryStats):
            summary.rest = rest
        return summary

    def _of_this_run(self, session: dict[str, Any]) -> bool:
        raw = session["started_at"] or session["requested_at"]
        if raw is None:
            return False
        at = parse_utc(raw)
        return at >= self.clock.start

    async def _invoices(self, visits: int) -> list[dict[str, Any]]:
        """Poll billing until every visit is invoiced and settled, or `invoice_wait` has passed.
        An outage while polling (billing down, a 502 from the gateway) only costs time: the
        run's own deadline ends the wait, with one line saying what is missing."""
        deadline = time.monotonic() + self.invoice_wait
        scope = within(deadline)  # no single call outlives the wait
        mine: list[dict[str, Any]] = []
        failure: RestError | None = None
        try:
            while True:
                try:
                    mine, done = await self._invoices_now(visits)
                    failure = None
                except RestError as exc:
                    if not exc.transient:
                        raise
                    failure, done = exc, False
                if done or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            if len(mine) <= 20:
                with contextlib.suppress(RestError):  # the list's copies do, then
                    mine = [await self.client.get(f"/billing/invoices/{i['id']}") for i in mine]
        finally:
            reset(scope)
        if len(mine) < visits or failure is not None:
            why = f"; billing's last answer: {failure}" if failure is not None else ""
            line = (
                f"billing: {len(mine)} of {visits} visit(s) invoiced within "
                f"{self.invoice_wait:g} s{why}"
            )
            self.out(line)
            self.errors.append(line)
        return mine

    async def _invoices_now(self, visits: int) -> tuple[list[dict[str, Any]], bool]:
        customers = {c.customer_id for c in self.cars.values() if c.customer_id}
        since = isoformat(self.wall_start)
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self.client.get(
                "/billing/invoices", **{"from": since, "limit": 1000, "after": after}
            )
            items += page["items"]
            if page.get("next_after") is None:
                break
            after = page["next_after"]
        named = [i for i in items if i["customer_id"] in customers]
        anon = [i for i in items if i["customer_id"] is None and await self._ours(i)]
        mine = named + anon
        settled = all(i["status"] != "draft" for i in mine) and all(
            i["status"] in ("paid", "void", "uncollectible") for i in named
        )
        return mine, len(mine) >= visits and settled

    async def _ours(self, invoice: dict[str, Any]) -> bool:
        """An anonymous invoice is this run's when its visit is: a stay in the scenario's lot by
        one of its cars, or sessions on its chargers. Read once per invoice."""
        known = self._ours_by_invoice.get(invoice["id"])
        if known is not None:
            return known
        ours = False
        if invoice.get("visit_id"):
            visit = await self.client.get(f"/billing/visits/{invoice['visit_id']}")
            stay = visit.get("stay")
            if stay is not None:
                ours = stay["lot_id"] == self.scenario.lot.id and stay["regnum"] in self._regnums
            else:
                chargers = {c.id for c in self.scenario.chargers}
                ours = any(s["charger_id"] in chargers for s in visit["sessions"])
        self._ours_by_invoice[invoice["id"]] = ours
        return ours
