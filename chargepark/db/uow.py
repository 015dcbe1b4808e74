"""Unit of work: one transaction for a use case's state change and the events it emits."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.events.envelope import DomainEvent, envelope_of
from chargepark.events.registry import validate_event


class UnitOfWork:
    """`async with uow: ...; uow.emit(event); await uow.commit()`.

    Leaving the block without commit() rolls back.

    Services subclass it to add their repositories, built on `self.session`.
    """

    def __init__(
        self, db: Database, outbox: Table, clock: Clock, on_commit: Callable[[], None]
    ) -> None:
        self.db = db
        self.outbox_table = outbox
        self.clock = clock
        self._on_commit = on_commit
        self.session: AsyncSession
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> Self:
        self.session = self.db.sessions()
        self.events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    def emit(self, event: DomainEvent | Mapping[str, Any]) -> dict[str, Any]:
        """Queue an event for the outbox; it is validated now and written at commit."""
        doc = envelope_of(event) if isinstance(event, DomainEvent) else dict(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        if self.events:
            await self.write_outbox(self.clock.now())
        await self.session.commit()
        if self.events:
            self.events = []
            self._on_commit()

    def notify_committed(self) -> None:
        """Wake the outbox relay: for events committed outside `commit` (the hot path's
        one-statement writes, which take this unit's outbox table and clock)."""
        self._on_commit()

    async def write_outbox(self, now: datetime) -> None:
        """The queued events' outbox rows, in the transaction about to commit. A subclass may
        write them together with rows of its own (one statement instead of two)."""
        await self.session.execute(
            insert(self.outbox_table), [outbox_row(e, now) for e in self.events]
        )

    async def rollback(self) -> None:
        await self.session.rollback()
        self.events = []


def outbox_row(event: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An enveloped, validated event as its outbox row."""
    return {
        "event_id": event["event_id"],
        "event_type": event["event"],
        "payload": json.dumps(event, separators=(",", ":")),
        "created_at": now,
        "attempts": 0,
    }


# The columns `outbox_row` fills, for statements that write outbox rows themselves.
OUTBOX_ROW_COLUMNS = ("event_id", "event_type", "payload", "created_at", "attempts")
