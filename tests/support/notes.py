"""A tiny service used to test the kernel's unit of work, outbox and inbox.

It parks vehicles as "notes" (emitting the real VehicleParked event) and its consumer records
each VehicleParked it applies, so tests can count effects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, String, Table, func, insert, select

from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables
from chargepark.db.uow import UnitOfWork
from chargepark.events.envelope import envelope
from chargepark.events.outbox import OutboxRelay

metadata = service_metadata()
kernel = kernel_tables(metadata)
notes = Table("notes", metadata, Column("regnum", String(16), primary_key=True))
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("regnum", String(16), nullable=False),
)


async def create_schema(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def parked(regnum: str, clock: Clock) -> dict[str, Any]:
    return envelope(
        "VehicleParked",
        {
            "ts": clock.now().isoformat().replace("+00:00", "Z"),
            "lot_id": "A1",
            "level": "1",
            "slot_ui": "7",
            "regnum": regnum,
            "kind": "CAR",
            "fuel": "EV",
            "charger_id": None,
            "connector_id": None,
        },
    )


class Notes:
    def __init__(self, db: Database, relay: OutboxRelay, clock: Clock) -> None:
        self.db, self.relay, self.clock = db, relay, clock

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, kernel.outbox, self.clock, self.relay.notify)

    async def park(self, regnum: str, *, fail_before_commit: bool = False) -> dict[str, Any]:
        async with self.uow() as uow:
            await uow.session.execute(insert(notes), {"regnum": regnum})
            event = uow.emit(parked(regnum, self.clock))
            if fail_before_commit:
                raise RuntimeError("crash between the state change and the commit")
            await uow.commit()
        return event

    async def record_effect(self, event: dict[str, Any], uow: UnitOfWork) -> None:
        await uow.session.execute(
            insert(effects), {"event_id": event["event_id"], "regnum": event["regnum"]}
        )

    async def count(self, table: Table) -> int:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(table))).scalar_one()

    async def unsent(self) -> int:
        t = kernel.outbox
        async with self.db.engine.connect() as conn:
            query = select(func.count()).select_from(t).where(t.c.sent_at.is_(None))
            return (await conn.execute(query)).scalar_one()
