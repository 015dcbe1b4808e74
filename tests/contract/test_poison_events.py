"""An event a consumer keeps failing on must not hold back the others, on every transport and
every database: it is set aside in the consumer's retry store within a bounded time, tried again
from there, applied once if it starts succeeding, dead-lettered if it never does, and kept
across a restart.

The flow is the reported one: a producer's outbox (csms's, on its own SQLite file) relayed over
the bus to parking's real consumer, which cannot store a MeterTelemetry energy of 2^63 (SQLite's
OverflowError; on PostgreSQL "value out of int64 range", SQLSTATE 22003). The buses keep their
production retry pacing, so the measured delays are the ones a deployment sees.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from chargepark.db.engine import Database
from chargepark.db.uow import UnitOfWork, outbox_row
from chargepark.events.bus import EventBus
from chargepark.events.inbox import DEAD_LETTERED, Consumer
from chargepark.events.outbox import OutboxRelay
from parking import consumers as parking_consumers
from parking.store import energy_readings
from parking.store import kernel as parking_tables
from tests.contract.conftest import wait_ready
from tests.support import notes as producer_tables
from tests.support import templates

# What an unrelated event may be held back by a failing one: the rule's worst case (a transient
# failure: four tries, 0.2 + 0.4 + 0.8 s apart on the in-process bus) plus the handler runs and
# the relay's pass, with room for a loaded CI machine. Before the rule it was 22.7 s.
BOUND_SEC = 3.0
HUGE = 2**63  # one beyond BIGINT


def telemetry(charger_id: str, energy_wh: int) -> dict[str, Any]:
    at = "2026-11-27T09:00:00Z"
    reading = {
        "charger_id": charger_id,
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": None,
        "samples": 1,
        "first_at": at,
        "last_at": at,
        "energy_wh": energy_wh,
        "power_w": None,
    }
    return {
        "event": "MeterTelemetry",
        "event_id": str(uuid.uuid4()),
        "schema_version": 1,
        "ts": at,
        "correlation_id": None,
        "readings": [reading],
    }


class Flow:
    """csms's outbox and relay (SQLite) over a bus to parking's consumer on `db`."""

    def __init__(self, producer: Database, db: Database, clock: Any) -> None:
        self.producer, self.db, self.clock = producer, db, clock
        self.broken = False  # the flaky handler's switch
        self.calls: dict[str, int] = {}  # deliveries to the handler, by charger

    @classmethod
    async def create(cls, producer: Database, db: Database, clock: Any) -> Flow:
        await producer_tables.create_schema(producer)
        await templates.migrated("parking", db)
        return cls(producer, db, clock)

    def consumer(self, *, flaky: bool = False) -> Consumer[UnitOfWork]:
        """Parking's consumer as built for the service; `flaky` fails while `broken` is set."""
        consumer = parking_consumers.build_consumer(
            lambda: UnitOfWork(self.db, parking_tables.outbox, self.clock, lambda: None),
            parking_tables,
        )
        real = consumer.handlers["MeterTelemetry"]

        async def counted(event: dict[str, Any], unit: UnitOfWork) -> None:
            charger = event["readings"][0]["charger_id"]
            self.calls[charger] = self.calls.get(charger, 0) + 1
            if flaky and self.broken:
                raise ConnectionResetError("parking's database went away (test)")
            await real(event, unit)

        consumer.handlers["MeterTelemetry"] = counted
        return consumer

    async def wire(self, bus: EventBus, consumer: Consumer[UnitOfWork]) -> OutboxRelay:
        await bus.subscribe("parking", consumer.event_types, consumer.deliver)
        await bus.start()
        await wait_ready(bus)
        relay = OutboxRelay(
            "csms", self.producer, producer_tables.kernel.outbox, bus, poll_interval=0.05
        )
        relay.start()
        return relay

    async def emit(self, event: dict[str, Any]) -> None:
        """Writes the event's outbox row as csms's unit of work would (not validated: what the
        edge lets through is the point)."""
        row = outbox_row(event, datetime.now(UTC))
        async with self.producer.engine.begin() as conn:
            await conn.execute(insert(producer_tables.kernel.outbox), row)

    async def energy(self, charger_id: str) -> int | None:
        t = energy_readings
        async with self.db.engine.connect() as conn:
            query = select(t.c.energy_wh).where(t.c.charger_id == charger_id)
            return (await conn.execute(query)).scalar_one_or_none()

    async def rows(self, table: Any) -> list[Any]:
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(select(table))).all())

    async def unsent(self) -> int:
        t = producer_tables.kernel.outbox
        async with self.producer.engine.connect() as conn:
            query = select(func.count()).select_from(t).where(t.c.sent_at.is_(None))
            return (await conn.execute(query)).scalar_one()

    async def until(self, predicate: Callable[[], Any], within: float) -> float:
        """Seconds until `predicate()` (a coroutine function) holds; polls the database, as
        there is no event to wait on for a row another task commits."""
        started = time.monotonic()
        async with asyncio.timeout(within):
            while not await predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return time.monotonic() - started


@pytest.fixture
async def producer(tmp_path) -> Any:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}")
    yield db
    await db.dispose()


async def test_an_event_parking_cannot_store_does_not_hold_back_the_next(
    any_db, producer, paced_buses, clock
):
    flow = await Flow.create(producer, any_db, clock)
    relay = await flow.wire(paced_buses(), flow.consumer())
    try:
        await flow.emit(telemetry("CP-POISON", HUGE))
        await flow.emit(telemetry("CP-2", 1_000))
        relay.notify()
        delay = await flow.until(lambda: _is(flow.energy("CP-2"), 1_000), within=BOUND_SEC)
        await flow.until(lambda: _has_rows(flow, parking_tables.event_retries), within=BOUND_SEC)
        await flow.until(lambda: _is(flow.unsent(), 0), within=BOUND_SEC)
    finally:
        await relay.stop()

    print(f"the event behind the poisoned one was applied {delay:.2f} s after its commit")
    # A value no retry can store: classified deterministic, two tries, then set aside.
    [waiting] = await flow.rows(parking_tables.event_retries)
    assert (waiting.consumer, waiting.failure, waiting.attempts) == ("parking", "deterministic", 2)
    assert flow.calls["CP-POISON"] == 2
    assert await flow.energy("CP-POISON") is None


async def test_an_event_that_keeps_failing_transiently_is_set_aside_within_the_bound(
    any_db, producer, paced_buses, clock
):
    flow = await Flow.create(producer, any_db, clock)
    consumer = flow.consumer(flaky=True)
    relay = await flow.wire(paced_buses(), consumer)
    try:
        flow.broken = True
        await flow.emit(telemetry("CP-1", 500))
        await flow.until(lambda: _has_rows(flow, parking_tables.event_retries), within=BOUND_SEC)
        flow.broken = False
        await flow.emit(telemetry("CP-2", 1_000))
        relay.notify()
        await flow.until(lambda: _is(flow.energy("CP-2"), 1_000), within=BOUND_SEC)
    finally:
        await relay.stop()

    [waiting] = await flow.rows(parking_tables.event_retries)
    assert (waiting.failure, waiting.attempts) == ("transient", 4)
    assert flow.calls["CP-1"] == 4


async def test_a_set_aside_event_that_starts_succeeding_is_applied_once(
    any_db, producer, paced_buses, clock
):
    flow = await Flow.create(producer, any_db, clock)
    consumer = flow.consumer(flaky=True)
    relay = await flow.wire(paced_buses(), consumer)
    flow.broken = True
    try:
        first = telemetry("CP-1", 500)
        await flow.emit(first)
        relay.notify()
        await flow.until(lambda: _has_rows(flow, parking_tables.event_retries), within=BOUND_SEC)
        await flow.until(lambda: _is(flow.unsent(), 0), within=BOUND_SEC)
    finally:
        await relay.stop()
    flow.broken = False

    assert await consumer.retry_due() == 0  # not due yet
    clock.advance(seconds=consumer.policy.retry_base)
    assert await consumer.retry_due() == 1
    assert await flow.energy("CP-1") == 500
    assert await flow.rows(parking_tables.event_retries) == []
    # A late redelivery by the transport finds the inbox row: no second effect.
    await consumer.deliver(dict(first), 1)
    inbox = await flow.rows(parking_tables.inbox)
    assert [(r.event_id, r.outcome) for r in inbox] == [(first["event_id"], "applied")]
    assert flow.calls["CP-1"] == 5


async def test_an_event_that_never_succeeds_ends_in_dead_letters(
    any_db, producer, paced_buses, clock
):
    flow = await Flow.create(producer, any_db, clock)
    consumer = flow.consumer()
    relay = await flow.wire(paced_buses(), consumer)
    before = DEAD_LETTERED.labels("parking", "MeterTelemetry")._value.get()
    try:
        poison = telemetry("CP-POISON", HUGE)
        await flow.emit(poison)
        relay.notify()
        await flow.until(lambda: _has_rows(flow, parking_tables.event_retries), within=BOUND_SEC)
    finally:
        await relay.stop()

    tries_from_the_store = 0
    while await flow.rows(parking_tables.event_retries):
        clock.advance(seconds=consumer.policy.retry_cap)
        tries_from_the_store += await consumer.retry_due()

    attempts = consumer.policy.deterministic_max_attempts
    assert tries_from_the_store == attempts - consumer.policy.deterministic_tries
    assert flow.calls["CP-POISON"] == attempts
    [dead] = await flow.rows(parking_tables.dead_letters)
    assert (dead.event_id, dead.attempts) == (poison["event_id"], attempts)
    assert dead.error.split(":")[0] in {"OverflowError", "DBAPIError"}
    assert DEAD_LETTERED.labels("parking", "MeterTelemetry")._value.get() == before + 1
    assert await flow.rows(parking_tables.inbox) == []


async def test_a_set_aside_event_is_kept_across_a_restart(any_db, producer, paced_buses, clock):
    flow = await Flow.create(producer, any_db, clock)
    before = paced_buses()
    relay = await flow.wire(before, flow.consumer(flaky=True))
    flow.broken = True
    try:
        await flow.emit(telemetry("CP-1", 500))
        relay.notify()
        await flow.until(lambda: _has_rows(flow, parking_tables.event_retries), within=BOUND_SEC)
    finally:
        await relay.stop()
        await before.close()

    # The process restarts: new bus, new consumer, new relay; the database is all that is left.
    flow.broken = False
    consumer = flow.consumer(flaky=True)
    relay = await flow.wire(paced_buses(), consumer)
    try:
        await flow.emit(telemetry("CP-2", 1_000))
        relay.notify()
        await flow.until(lambda: _is(flow.energy("CP-2"), 1_000), within=BOUND_SEC)
        clock.advance(seconds=consumer.policy.retry_base)
        assert await consumer.retry_due() == 1
    finally:
        await relay.stop()
    assert await flow.energy("CP-1") == 500
    assert await flow.rows(parking_tables.event_retries) == []
    assert await flow.unsent() == 0


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


async def _has_rows(flow: Flow, table: Any) -> bool:
    return bool(await flow.rows(table))
