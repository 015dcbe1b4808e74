"""For tests of csms's batched OCPP hot path on a real database: a unit-of-work factory that
counts the transactions it opens, status reports, and what the status writer stored."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from chargepark.db.engine import Database
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import connectors, kernel
from csms.services.chargers import ReportStatus
from tests.conftest import T0, FixedClock


class Units:
    """The csms's unit-of-work factory, counting the transactions it opens."""

    def __init__(self, db: Database, clock: FixedClock) -> None:
        self.db, self.clock, self.opened = db, clock, 0

    def __call__(self) -> CsmsUnitOfWork:
        self.opened += 1
        return CsmsUnitOfWork(self.db, kernel.outbox, self.clock, lambda: None)


def status(charger_id: str, state: str, evse_id: int = 1, seconds: int = 0) -> ReportStatus:
    return ReportStatus(
        charger_id=charger_id,
        evse_id=evse_id,
        connector_id=1,
        status=state,
        error_code=None,
        info=None,
        at=T0 + timedelta(seconds=seconds),
    )


async def stored_connectors(db: Database) -> dict[tuple[str, int], str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(connectors))
        return {(r.charger_id, r.evse_id): r.status for r in rows}


async def status_events(db: Database) -> list[tuple[str, int, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(kernel.outbox.c.payload)
            .where(kernel.outbox.c.event_type == "ChargerStatusChanged")
            .order_by(kernel.outbox.c.id)
        )
        events = [json.loads(r.payload) for r in rows]
    return [(e["charger_id"], e["evse_id"], e["status"]) for e in events]
