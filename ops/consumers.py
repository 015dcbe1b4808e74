"""The ops consumer: platform events in, through the inbox (each applied once), to the
ingestion use cases (ops.services.ingestion) on ops' SQL unit of work."""

from __future__ import annotations

from collections.abc import Callable

from chargepark.db.tables import KernelTables
from chargepark.events.inbox import Consumer
from ops.adapters.sql_uow import SqlOpsUnitOfWork
from ops.services.ingestion import HANDLERS, READS

__all__ = ["READS", "build_consumer"]


def build_consumer(
    uow: Callable[[], SqlOpsUnitOfWork], tables: KernelTables
) -> Consumer[SqlOpsUnitOfWork]:
    return Consumer(
        "ops",
        uow,
        tables.inbox,
        tables.dead_letters,
        dict(HANDLERS),
        reads=READS,
        retries=tables.event_retries,
    )
