"""The transactional outbox: rows written with the state change, published by a relay.

The relay publishes unsent rows in id order and marks them sent. It never holds a SQLite write
lock while publishing (SQLite has no row locks and ignores FOR UPDATE SKIP LOCKED): it reads a
batch, publishes it, then marks what went out; a process-local lock keeps one relay pass at a
time per database. On PostgreSQL, several processes of one service may relay at once, so the
batch is claimed with FOR UPDATE SKIP LOCKED for the duration of the pass. A row published but
not yet marked (crash in between) is published again: the bus drops it by event id
(JetStream's Nats-Msg-Id) and consumers by their inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chargepark import tracing
from chargepark.clock import Clock, SystemClock
from chargepark.db.engine import Database
from chargepark.errors import BusUnavailable
from chargepark.events.bus import EventBus, backoff_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Row:
    id: int
    event_id: str
    event_type: str
    payload: str


class OutboxRelay:
    """Publishes one service's outbox. notify() after a commit wakes it at once."""

    def __init__(
        self,
        service: str,
        db: Database,
        outbox: Table,
        bus: EventBus,
        *,
        clock: Clock | None = None,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 15.0,
        coalesce: float = 0.02,
    ) -> None:
        self.service = service
        self.db = db
        self.table = outbox
        self.bus = bus
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        # After a pass that published something, commits arriving within this many seconds
        # share the next pass: under load a pass per commit (a transaction, a SELECT and an
        # UPDATE) cost the csms ~8% of its CPU; an event waits at most this much longer.
        self.coalesce = coalesce
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop the loop, then try to empty the outbox; all within `drain_timeout` seconds.

        The bound holds whatever the consumers do: a pass still under way at the deadline is
        cancelled. What it had not marked sent stays unsent and goes out at the next start
        (a row published but not marked is dropped there by the bus or the inbox)."""
        self._stopping = True
        self._stop_event.set()
        self._wake.set()
        task, self._task = self._task, None
        try:
            async with asyncio.timeout(drain_timeout):
                if task is not None:
                    await asyncio.shield(task)
                while await self.run_once() == self.batch_size:
                    pass
        except TimeoutError:
            log.warning(
                "outbox not drained before stopping; the rest goes out at the next start",
                extra={"service": self.service, "drain_timeout": drain_timeout},
            )
        except BusUnavailable:
            pass
        finally:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run_once(self) -> int:
        """Publish one batch; returns how many rows went out. Raises BusUnavailable."""
        async with self._lock:
            if self.db.dialect == "postgresql":
                return await self._pass_locked()
            return await self._pass_unlocked()

    async def _pass_locked(self) -> int:
        # The writers' pool: no ping round trip before each pass (SQLAlchemy runs these
        # statements, so a connection the server closed is detected and the pool renewed).
        async with self.db.writer.begin() as conn:
            rows = await self._unsent(conn, skip_locked=True)
            sent, failure = await self._publish(rows)
            await self._record(conn, rows, sent, failure)
        if failure is not None:
            raise failure
        return len(sent)

    async def _pass_unlocked(self) -> int:
        # No transaction is open while publishing: an in-process consumer of this same
        # database would otherwise wait on our write lock while we wait on it.
        async with self.db.engine.begin() as conn:
            rows = await self._unsent(conn, skip_locked=False)
        if not rows:
            return 0
        sent, failure = await self._publish(rows)
        async with self.db.engine.begin() as conn:
            await self._record(conn, rows, sent, failure)
        if failure is not None:
            raise failure
        return len(sent)

    async def _publish(self, rows: list[_Row]) -> tuple[list[int], BusUnavailable | None]:
        sent: list[int] = []
        for row in rows:
            try:
                if tracing.enabled:
                    with tracing.publishing(
                        self.service, row.event_type, row.event_id, row.payload
                    ):
                        await self.bus.publish(row.event_type, row.event_id, row.payload.encode())
                else:
                    await self.bus.publish(row.event_type, row.event_id, row.payload.encode())
            except BusUnavailable as exc:
                return sent, exc  # keep order: nothing after a row that did not go out
            sent.append(row.id)
        return sent, None

    async def _record(
        self,
        conn: AsyncConnection,
        rows: list[_Row],
        sent: list[int],
        failure: BusUnavailable | None,
    ) -> None:
        t = self.table
        if sent:
            await conn.execute(
                update(t)
                .where(t.c.id.in_(sent))
                .values(sent_at=self.clock.now(), attempts=t.c.attempts + 1)
            )
        if failure is not None:
            failed = rows[len(sent)]
            await conn.execute(
                update(t)
                .where(t.c.id == failed.id)
                .values(attempts=t.c.attempts + 1, last_error=str(failure)[:500])
            )

    async def _unsent(self, conn: AsyncConnection, *, skip_locked: bool) -> list[_Row]:
        t = self.table
        query = (
            select(t.c.id, t.c.event_id, t.c.event_type, t.c.payload)
            .where(t.c.sent_at.is_(None))
            .order_by(t.c.id)
            .limit(self.batch_size)
        )
        if skip_locked:
            query = query.with_for_update(skip_locked=True)
        result = await conn.execute(query)
        return [_Row(*r) for r in result.all()]

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                sent = await self.run_once()
                failures = 0
            except BusUnavailable as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "bus unavailable; events wait in the outbox",
                        extra={"service": self.service, "error": str(exc)},
                    )
                await self._sleep(
                    backoff_delay(failures, base=0.5, cap=self.max_backoff), wake_on_commit=False
                )
                continue
            except Exception:
                failures += 1
                log.exception("outbox relay pass failed", extra={"service": self.service})
                await self._sleep(
                    backoff_delay(failures, base=0.5, cap=self.max_backoff), wake_on_commit=False
                )
                continue
            if sent < self.batch_size:
                if sent and self.coalesce > 0:
                    await self._sleep(self.coalesce, wake_on_commit=False)
                await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float, *, wake_on_commit: bool = True) -> None:
        # A commit (notify) cuts an idle wait short; while the bus is failing only stop() does,
        # so a busy service does not hammer a dead bus once per commit.
        event = self._wake if wake_on_commit else self._stop_event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
