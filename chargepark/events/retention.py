"""Keeping the outbox and the inbox to a bounded size.

A row of the outbox is needed until the relay has published it; an inbox row until no
redelivery of its event can still arrive (JetStream redelivers an event whose ack was lost
within its ack wait, seconds to minutes). Kept forever they only grow: the csms writes a row
per meter value. Each service's retention job deletes outbox rows sent, and inbox rows
processed, more than `retention` ago. Unsent outbox rows, events set aside for a retry and dead
letters are never deleted here: the first two still have to be delivered, the last wait for an
operator.

Deleted in batches of `batch` rows, each its own short transaction, so a first run over a
large backlog neither holds locks for long nor builds one huge WAL record.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Delete, delete, select, tuple_

from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.db.tables import KernelTables
from chargepark.scheduler import IntervalJob

log = logging.getLogger(__name__)


class EventRetention(IntervalJob):
    def __init__(
        self,
        service: str,
        db: Database,
        tables: KernelTables,
        clock: Clock,
        retention: timedelta,
        *,
        every_sec: float = 3600.0,
        batch: int = 5000,
    ) -> None:
        super().__init__(f"{service}-event-retention", every_sec)
        self.db = db
        self.tables = tables
        self.clock = clock
        self.retention = retention
        self.batch = batch

    async def work(self) -> None:
        deleted = await self.prune()
        if any(deleted.values()):
            log.info("old events deleted", extra={"job": self.name, **deleted})

    async def prune(self) -> dict[str, int]:
        """Deletes what is past retention; returns how many outbox and inbox rows went."""
        cutoff = self.clock.now() - self.retention
        outbox, inbox = self.tables.outbox, self.tables.inbox
        # ix_outbox_unsent (sent_at, id) finds the sent rows oldest first; unsent ones have a
        # NULL sent_at and never compare as older.
        old_sent = (
            select(outbox.c.id)
            .where(outbox.c.sent_at < cutoff)
            .order_by(outbox.c.sent_at)
            .limit(self.batch)
        )
        old_processed = (
            select(inbox.c.consumer, inbox.c.event_id)
            .where(inbox.c.processed_at < cutoff)
            .limit(self.batch)
        )
        return {
            "outbox": await self._in_batches(delete(outbox).where(outbox.c.id.in_(old_sent))),
            "inbox": await self._in_batches(
                delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.event_id).in_(old_processed))
            ),
        }

    async def _in_batches(self, statement: Delete) -> int:
        total = 0
        while True:
            async with self.db.engine.begin() as conn:
                n = (await conn.execute(statement)).rowcount
            total += n
            if n < self.batch:
                return total
