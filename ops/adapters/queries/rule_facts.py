"""The facts an alert rule is evaluated on (ops.ports.RuleFacts)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from chargepark.clock import as_utc
from ops import domain
from ops.adapters.queries.chargers import ChargerQueries
from ops.adapters.queries.energy import EnergyQueries
from ops.domain import RuleData, RuleKind, RuleSpec, Stay
from ops.domain.energy import REFUSAL_HOLD, STALE
from ops.store import invoices, sessions


class RuleFactQueries(ChargerQueries, EnergyQueries):
    async def rule_data(self, spec: RuleSpec, since: datetime, now: datetime) -> RuleData:
        """The facts of [since, now], `now` included (the periods below exclude their end)."""
        until = now + timedelta(microseconds=1)
        data = RuleData()
        if spec.kind in (RuleKind.CHARGER_FAULTED, RuleKind.CHARGER_OFFLINE):
            data.status_changes = await self.status_changes(since, until, spec.charger_id)
        elif spec.kind is RuleKind.OCCUPANCY_HIGH:
            ev = True if spec.ev_only else None
            found = await self.stays_between(since, until, lot_id=spec.lot_id, ev=ev)
            by_lot: dict[str, list[Stay]] = defaultdict(list)
            for stay in found:
                by_lot[stay.lot_id].append(stay)
            data.stays_by_lot = dict(by_lot)
            capacity: dict[str, int] = defaultdict(int)
            for (lot, _level, bay), slots in (await self.capacities(spec.lot_id)).items():
                if bay or not spec.ev_only:
                    capacity[lot] += slots
            data.capacity_by_lot = dict(capacity)
        elif spec.kind is RuleKind.BAY_IDLE:
            found = await self.stays_between(since, until, bays_only=True)
            if spec.charger_id is not None:
                found = [s for s in found if s.charger_id == spec.charger_id]
            data.stays_by_lot = {"": found}
            data.sessions = await self.sessions_between(since, until, spec.charger_id)
        elif spec.kind in (RuleKind.SITE_OVER_LIMIT, RuleKind.CHARGER_OVER_LIMIT):
            await self._load_data(data, spec, since, until)
        elif spec.kind is RuleKind.SMART_CHARGING_REFUSED:
            # from a hold back: a refusal keeps its condition for that long
            data.refusals = await self.refusals_between(
                since - REFUSAL_HOLD, until, spec.lot_id, spec.charger_id
            )
        else:
            data.invoices = await self.unpaid_between(since, until)
        return data

    async def _load_data(
        self, data: RuleData, spec: RuleSpec, since: datetime, until: datetime
    ) -> None:
        """Reports are samples, not changes: the ones from a window and a staleness back show
        whether a condition was already holding at `since`, and since when."""
        back = since - spec.window - STALE
        data.site_loads = await self.site_loads_between(back, until, spec.lot_id)
        if spec.kind is RuleKind.CHARGER_OVER_LIMIT:
            data.charger_loads = await self.charger_loads_between(
                back, until, spec.lot_id, spec.charger_id
            )

    async def sessions_between(
        self, since: datetime, until: datetime, charger_id: str | None
    ) -> list[domain.SessionTime]:
        s = sessions.c
        query = select(s.charger_id, s.evse_id, s.started_at, s.ended_at).where(
            s.started_at < until, or_(s.ended_at.is_(None), s.ended_at > since)
        )
        if charger_id is not None:
            query = query.where(s.charger_id == charger_id)
        async with self.db.engine.connect() as conn:
            return [
                domain.SessionTime(
                    r.charger_id,
                    r.evse_id,
                    as_utc(r.started_at),
                    None if r.ended_at is None else as_utc(r.ended_at),
                )
                for r in await conn.execute(query)
            ]

    async def unpaid_between(self, since: datetime, until: datetime) -> list[domain.InvoiceTime]:
        i = invoices.c
        query = select(i.invoice_id, i.issued_at, i.paid_at).where(
            i.issued_at.is_not(None),
            i.issued_at < until,
            or_(i.paid_at.is_(None), i.paid_at > since),
        )
        async with self.db.engine.connect() as conn:
            return [
                domain.InvoiceTime(
                    r.invoice_id,
                    as_utc(r.issued_at),
                    None if r.paid_at is None else as_utc(r.paid_at),
                )
                for r in await conn.execute(query)
            ]
