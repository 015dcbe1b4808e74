"""The EventBus contract, run against the in-process bus and NATS JetStream alike."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from chargepark.errors import BusUnavailable
from chargepark.events.bus import EventBus
from tests.support.bus import Recorder, started

# Long enough for a stray redelivery to show up, short enough to keep the suite fast.
SETTLE = 0.2


def event(event_type: str, n: int = 0, event_id: str | None = None) -> tuple[str, bytes]:
    event_id = event_id or str(uuid.uuid4())
    body = {
        "event": event_type,
        "event_id": event_id,
        "schema_version": 1,
        "ts": "2026-11-27T09:00:00Z",
        "n": n,
    }
    return event_id, json.dumps(body).encode()


async def publish(bus: EventBus, event_type: str, n: int = 0, event_id: str | None = None) -> str:
    event_id, payload = event(event_type, n, event_id)
    await bus.publish(event_type, event_id, payload)
    return event_id


async def test_a_published_event_reaches_every_subscribed_consumer_once(bus):
    rec = Recorder()
    for consumer in ("billing", "ops", "parking"):
        await bus.subscribe(consumer, ["VehicleParked"], rec.handler(consumer))
    await started(bus)

    event_id = await publish(bus, "VehicleParked")
    await rec.wait_for(lambda: len(rec.seen) == 3)
    await asyncio.sleep(SETTLE)

    assert sorted(name for name, _, _ in rec.seen) == ["billing", "ops", "parking"]
    assert {evt["event_id"] for _, evt, _ in rec.seen} == {event_id}
    assert [attempt for _, _, attempt in rec.seen] == [1, 1, 1]


async def test_each_consumer_gets_only_the_event_types_it_subscribed_to(bus):
    rec = Recorder()
    await bus.subscribe("parked", ["VehicleParked"], rec.handler("parked"))
    await bus.subscribe("left", ["VehicleLeft"], rec.handler("left"))
    await bus.subscribe("both", ["VehicleParked", "VehicleLeft"], rec.handler("both"))
    await started(bus)

    await publish(bus, "VehicleParked")
    await publish(bus, "InvoiceIssued")  # nobody subscribed
    await publish(bus, "VehicleLeft")
    await rec.wait_for(lambda: len(rec.seen) == 4)
    await asyncio.sleep(SETTLE)

    assert [evt["event"] for evt in rec.of("parked")] == ["VehicleParked"]
    assert [evt["event"] for evt in rec.of("left")] == ["VehicleLeft"]
    assert sorted(evt["event"] for evt in rec.of("both")) == ["VehicleLeft", "VehicleParked"]
    assert len(rec.seen) == 4


async def test_a_handler_that_fails_is_redelivered_with_rising_attempts_until_it_succeeds(bus):
    rec = Recorder()
    await bus.subscribe(
        "flaky",
        ["ChargingSessionClosed"],
        rec.handler("flaky", fail=lambda _evt, attempt: attempt < 3),
    )
    await bus.subscribe("steady", ["ChargingSessionClosed"], rec.handler("steady"))
    await started(bus)

    event_id = await publish(bus, "ChargingSessionClosed")
    await rec.wait_for(lambda: len(rec.attempts("flaky", event_id)) == 3)
    await asyncio.sleep(SETTLE)

    assert rec.attempts("flaky", event_id) == [1, 2, 3]
    assert rec.attempts("steady", event_id) == [1]  # one consumer's failure is its own


async def test_events_from_one_publisher_arrive_in_publish_order_to_one_consumer(bus):
    rec = Recorder()
    await bus.subscribe("billing", ["ChargingSessionStarted"], rec.handler("billing"))
    await started(bus)

    for n in range(30):
        await publish(bus, "ChargingSessionStarted", n)
    await rec.wait_for(lambda: len(rec.seen) == 30)

    assert [evt["n"] for evt in rec.of("billing")] == list(range(30))


async def test_publishing_with_the_same_event_id_twice_delivers_once(bus, transport):
    if transport == "in_process":
        pytest.skip("in-process: repeats reach the consumer; its inbox drops them by event id")
    rec = Recorder()
    await bus.subscribe("billing", ["InvoiceIssued"], rec.handler("billing"))
    await started(bus)

    event_id = await publish(bus, "InvoiceIssued", 1)
    await publish(bus, "InvoiceIssued", 1, event_id=event_id)  # a relay retry
    after = await publish(bus, "InvoiceIssued", 2)
    await rec.wait_for(lambda: any(evt["event_id"] == after for evt in rec.of("billing")))
    await asyncio.sleep(SETTLE)

    assert [evt["event_id"] for evt in rec.of("billing")] == [event_id, after]


async def test_a_closed_bus_raises_bus_unavailable_on_publish(bus):
    rec = Recorder()
    await bus.subscribe("billing", ["InvoicePaid"], rec.handler("billing"))
    await started(bus)
    await bus.close()

    assert not bus.is_ready()
    with pytest.raises(BusUnavailable):
        await publish(bus, "InvoicePaid")
    assert rec.seen == []
