"""The outbox and inbox on SQLite and PostgreSQL, over the in-process bus and NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from sqlalchemy import select

from chargepark.errors import DomainError, SchemaViolation
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from chargepark.events.inprocess import InProcessBus
from chargepark.events.outbox import OutboxRelay
from tests.support import notes as n
from tests.support.outbox import SwitchableBus, wait_until, wired


async def test_state_change_and_event_commit_together_and_reach_the_consumer(any_db, bus, clock):
    service, relay, _ = await wired(any_db, bus, clock)
    await bus.start()
    relay.start()
    try:
        await service.park("AB123")
        await wait_until(lambda: _equals(service.count(n.effects), 1))
        assert await service.count(n.notes) == 1
        await wait_until(lambda: _equals(service.unsent(), 0))
    finally:
        await relay.stop()
        await bus.close()


async def test_a_use_case_that_fails_before_commit_leaves_neither_state_nor_event(any_db, clock):
    service, _, _ = await wired(any_db, InProcessBus(), clock)
    with pytest.raises(RuntimeError):
        await service.park("AB123", fail_before_commit=True)
    assert await service.count(n.notes) == 0
    assert await service.count(n.kernel.outbox) == 0


async def test_an_event_that_breaks_its_schema_fails_the_use_case_before_commit(any_db, clock):
    service, _, _ = await wired(any_db, InProcessBus(), clock)
    async with service.uow() as uow:
        bad = n.parked("AB123", clock) | {"kind": "TRUCK"}
        with pytest.raises(SchemaViolation, match="kind"):
            uow.emit(bad)
    assert await service.count(n.kernel.outbox) == 0


async def test_events_wait_in_the_outbox_while_the_bus_is_down_then_go_out(any_db, clock):
    bus = SwitchableBus(InProcessBus())
    service, relay, _ = await wired(any_db, bus, clock)
    await bus.start()
    relay.start()
    try:
        for regnum in ("AA1", "BB2", "CC3"):
            await service.park(regnum)  # the request succeeds although the bus is dead
        await asyncio.sleep(0.2)
        assert await service.unsent() == 3
        assert await service.count(n.effects) == 0
        bus.down = False
        await wait_until(lambda: _equals(service.count(n.effects), 3), within=10)
        # The relay marks rows sent after the consumers applied them: wait for that too.
        await wait_until(lambda: _equals(service.unsent(), 0), within=10)
    finally:
        await relay.stop()
        await bus.close()


async def test_a_relay_restarted_mid_stream_delivers_every_event_with_one_effect(
    any_db, bus, clock
):
    service, relay, _ = await wired(any_db, bus, clock)
    await bus.start()
    relay.batch_size = 5
    for i in range(20):
        await service.park(f"CAR{i}")
    assert await relay.run_once() == 5  # the first relay gets one batch out, then "dies"
    # Rows published but never marked sent (a crash before the mark) are published again.
    await _forget_sent(service, limit=3)
    second = OutboxRelay("notes", any_db, n.kernel.outbox, bus, clock=clock, poll_interval=0.05)
    second.start()
    try:
        await wait_until(lambda: _equals(service.unsent(), 0), within=10)
        await wait_until(lambda: _equals(service.count(n.effects), 20), within=10)
        await asyncio.sleep(0.2)  # any duplicate would land now
        assert await service.count(n.effects) == 20
    finally:
        await second.stop()
        await bus.close()


async def test_a_duplicate_delivery_has_one_effect(any_db, clock):
    service, _, consumer = await wired(any_db, InProcessBus(), clock)
    event = n.parked("AB123", clock)
    await consumer.deliver(dict(event), 1)
    await consumer.deliver(dict(event), 2)
    await asyncio.gather(*(consumer.deliver(dict(event), 3) for _ in range(5)))
    assert await service.count(n.effects) == 1
    assert await service.count(n.kernel.inbox) == 1


async def test_a_failing_handler_is_retried_then_dead_lettered(any_db, clock):
    calls: list[int] = []

    async def broken(event: dict[str, Any], uow) -> None:
        calls.append(1)
        raise RuntimeError("handler bug")

    bus = InProcessBus(retry_base=0.001, retry_cap=0.005)
    service, relay, _ = await wired(any_db, bus, clock, handler=broken, max_attempts=3)
    await bus.start()
    await service.park("AB123")
    await relay.run_once()  # returns once the consumer has given up on the event
    assert len(calls) == 3
    assert await service.count(n.kernel.dead_letters) == 1
    assert await service.unsent() == 0
    async with any_db.engine.connect() as conn:
        row = (await conn.execute(select(n.kernel.dead_letters))).one()
    assert row.error == "RuntimeError: handler bug" and row.attempts == 3
    await bus.close()


async def test_a_schema_version_the_consumer_does_not_read_is_dead_lettered_at_once(any_db, clock):
    from chargepark.events.contracts import UNREADABLE

    service, _, consumer = await wired(any_db, InProcessBus(), clock)
    before = UNREADABLE.labels("notes-consumer", "VehicleParked", "2")._value.get()
    event = {**n.parked("AB123", clock), "schema_version": 2}
    await consumer.deliver(dict(event), 1)  # returns: parked, not retried
    assert await service.count(n.effects) == 0
    assert await service.count(n.kernel.inbox) == 0
    async with any_db.engine.connect() as conn:
        row = (await conn.execute(select(n.kernel.dead_letters))).one()
    assert row.attempts == 0 and "schema version 2; this consumer reads [1]" in row.error
    assert UNREADABLE.labels("notes-consumer", "VehicleParked", "2")._value.get() == before + 1
    await consumer.deliver(dict(n.parked("AB124", clock)), 1)  # version 1 still applies
    assert await service.count(n.effects) == 1


def test_a_consumer_declares_what_it_reads_of_every_event_it_handles():
    async def handler(event: dict[str, Any], uow) -> None:
        return None

    with pytest.raises(ValueError, match="declare what is read"):
        Consumer("c", lambda: None, n.kernel.inbox, n.kernel.dead_letters, {"X": handler}, reads={})


async def test_a_business_rejection_is_recorded_once_and_not_retried(any_db, clock):
    calls: list[int] = []

    async def says_no(event: dict[str, Any], uow) -> None:
        calls.append(1)
        raise DomainError("not for this lot")

    _, _, consumer = await wired(any_db, InProcessBus(), clock, handler=says_no)
    event = n.parked("AB123", clock)
    await consumer.deliver(dict(event), 1)
    await consumer.deliver(dict(event), 2)
    assert len(calls) == 1
    async with any_db.engine.connect() as conn:
        outcome = (await conn.execute(select(n.kernel.inbox.c.outcome))).scalar_one()
    assert outcome == "rejected"


async def test_concurrent_relays_on_postgres_deliver_each_event_once(postgres_db, clock):
    bus = InProcessBus()
    service, _, _ = await wired(postgres_db, bus, clock)
    await bus.start()
    for i in range(60):
        await service.park(f"CAR{i}")
    relays = [
        OutboxRelay("notes", postgres_db, n.kernel.outbox, bus, clock=clock, batch_size=7)
        for _ in range(3)
    ]

    async def drain(relay: OutboxRelay) -> None:
        while await relay.run_once():
            pass

    await asyncio.gather(*(drain(r) for r in relays))
    assert await service.unsent() == 0
    assert await service.count(n.effects) == 60
    assert await service.count(n.kernel.inbox) == 60
    await bus.close()


async def _equals(awaitable, expected: int) -> bool:
    return await awaitable == expected


async def _forget_sent(service: n.Notes, *, limit: int) -> None:
    from sqlalchemy import update

    t = n.kernel.outbox
    async with service.db.engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    select(t.c.id).where(t.c.sent_at.is_not(None)).order_by(t.c.id).limit(limit)
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(update(t).where(t.c.id.in_(ids)).values(sent_at=None))


async def test_an_event_emitted_by_a_consumer_keeps_the_producers_correlation_id(sqlite_db, clock):
    emitted: list[dict[str, Any]] = []

    async def reacts(event: dict[str, Any], uow) -> None:
        emitted.append(uow.emit(n.parked("ZZ" + event["regnum"], clock)))

    _, _, consumer = await wired(sqlite_db, InProcessBus(), clock, handler=reacts)
    cause = n.parked("AB123", clock) | {"correlation_id": "visit-7"}
    await consumer.deliver(cause, 1)
    assert emitted[0]["correlation_id"] == "visit-7"


async def test_commits_in_quick_succession_share_relay_passes_and_all_go_out(any_db, clock):
    bus = InProcessBus()
    service, relay, _ = await wired(any_db, bus, clock, coalesce=0.05)
    passes = 0
    run_once = relay.run_once

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await run_once()

    relay.run_once = counted  # type: ignore[method-assign]
    await bus.start()
    relay.start()
    try:
        for i in range(20):
            await service.park(f"CAR{i}")
            await asyncio.sleep(0.01)  # each commit wakes the relay
        await wait_until(lambda: _equals(service.count(n.effects), 20))
    finally:
        await relay.stop()
        await bus.close()
    assert passes < 20  # without coalescing: about one pass per commit


async def test_stopping_takes_a_bounded_time_while_a_consumer_keeps_failing(sqlite_db, clock):
    tried = asyncio.Event()

    async def broken(event: dict[str, Any], uow) -> None:
        tried.set()
        raise RuntimeError("handler bug")

    # Production pacing, and a consumer that cannot set the event aside (no retry store): the
    # in-process bus would try it for 20 s and more, the relay's pass waiting all along.
    bus = InProcessBus()
    service, relay, _ = await wired(sqlite_db, bus, clock, handler=broken)
    await bus.start()
    relay.start()
    await service.park("AB123")
    await tried.wait()

    started = time.monotonic()
    async with asyncio.timeout(10):
        await relay.stop(drain_timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert await service.unsent() == 1  # not lost: it goes out at the next start
    await bus.close()


def notes_consumer(service: n.Notes, handler) -> Consumer:
    """A consumer with a retry store, its handler given."""
    return Consumer(
        "notes-consumer",
        service.uow,
        n.kernel.inbox,
        n.kernel.dead_letters,
        {"VehicleParked": handler},
        reads={"VehicleParked": reads(["regnum"])},
        retries=n.kernel.event_retries,
    )


async def test_a_set_aside_event_the_transport_delivers_again_is_applied_once(any_db, clock):
    service, _, _ = await wired(any_db, InProcessBus(), clock)
    broken = True

    async def flaky(event: dict[str, Any], uow) -> None:
        if broken:
            raise KeyError("regnum")
        await service.record_effect(event, uow)

    consumer = notes_consumer(service, flaky)
    event = n.parked("AB123", clock)
    with pytest.raises(KeyError):
        await consumer.deliver(dict(event), 1)  # a first failure goes back to the transport
    await consumer.deliver(dict(event), 2)  # the second one sets it aside: returns
    assert await service.count(n.kernel.event_retries) == 1

    broken = False
    await consumer.deliver(dict(event), 1)  # e.g. the outbox row published again after a crash
    assert await service.count(n.effects) == 1
    clock.advance(seconds=consumer.policy.retry_cap)
    assert await consumer.retry_due() == 1  # finds it applied: only the row goes
    assert await service.count(n.effects) == 1
    assert await service.count(n.kernel.event_retries) == 0


async def test_a_schema_violation_in_a_handler_is_retried_then_set_aside_not_rejected(
    any_db, clock
):
    """A handler whose own event breaks its schema is a bug of ours: the event is retried like
    any deterministic failure and set aside in the retry store, never acknowledged as
    "rejected" (its effect would be lost)."""
    service, _, _ = await wired(any_db, InProcessBus(), clock)
    calls: list[int] = []

    async def emits_a_bad_event(event: dict[str, Any], uow) -> None:
        calls.append(1)
        uow.emit(n.parked("AB999", clock) | {"kind": "TRUCK"})

    consumer = notes_consumer(service, emits_a_bad_event)
    event = n.parked("AB123", clock)
    with pytest.raises(SchemaViolation):
        await consumer.deliver(dict(event), 1)  # back to the transport, retried
    await consumer.deliver(dict(event), 2)  # deterministic: set aside after two tries
    assert len(calls) == 2
    assert await service.count(n.kernel.inbox) == 0  # not recorded as "rejected"
    async with any_db.engine.connect() as conn:
        row = (await conn.execute(select(n.kernel.event_retries))).one()
    assert row.failure == "deterministic" and row.error.startswith("SchemaViolation: VehicleParked")
    assert await service.count(n.kernel.outbox) == 0


async def test_processes_sharing_a_database_try_a_set_aside_event_once(any_db, clock):
    service, _, _ = await wired(any_db, InProcessBus(), clock)
    calls: list[str] = []

    async def failing(event: dict[str, Any], uow) -> None:
        calls.append(event["event_id"])
        raise ValueError("no")

    one, other = notes_consumer(service, failing), notes_consumer(service, failing)
    event = n.parked("AB123", clock)
    for attempt in (1, 2):
        with contextlib.suppress(ValueError):
            await one.deliver(dict(event), attempt)
    assert len(calls) == 2 and await service.count(n.kernel.event_retries) == 1

    clock.advance(seconds=one.policy.retry_cap)
    taken = await asyncio.gather(one.retry_due(), other.retry_due())
    assert sorted(taken) == [0, 1]
    assert len(calls) == 3
