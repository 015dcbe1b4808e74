"""The kernel's outbox and inbox wired to the `notes` test service (tests.support.notes), a bus
that can be taken down, and a wait on the database."""

from __future__ import annotations

import asyncio
from typing import Any

from chargepark.errors import BusUnavailable
from chargepark.events.bus import EventBus
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from chargepark.events.outbox import OutboxRelay
from tests.support import notes as n


async def wait_until(predicate, within: float = 5.0) -> None:
    # Polls the database: there is no event to wait on for a row another task commits.
    async with asyncio.timeout(within):
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def wired(db, bus: EventBus, clock, *, handler=None, max_attempts: int = 8, **relay_opts):
    """The `notes` test service with a relay and a consumer subscribed to `bus`."""
    await n.create_schema(db)
    relay_opts.setdefault("poll_interval", 0.05)
    relay = OutboxRelay("notes", db, n.kernel.outbox, bus, clock=clock, **relay_opts)
    service = n.Notes(db, relay, clock)
    consumer = Consumer(
        "notes-consumer",
        service.uow,
        n.kernel.inbox,
        n.kernel.dead_letters,
        {"VehicleParked": handler or service.record_effect},
        reads={"VehicleParked": reads(["regnum"])},
        max_attempts=max_attempts,
    )
    await bus.subscribe("notes", consumer.event_types, consumer.deliver)
    return service, relay, consumer


class SwitchableBus:
    """Wraps a bus and fails every publish while `down`, as a dead NATS does."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.down = True

    async def subscribe(self, *args: Any) -> None:
        await self.inner.subscribe(*args)

    async def start(self) -> None:
        await self.inner.start()

    async def publish(self, event_type: str, event_id: str, payload: bytes) -> None:
        if self.down:
            raise BusUnavailable("bus down (test)")
        await self.inner.publish(event_type, event_id, payload)

    def is_ready(self) -> bool:
        return not self.down

    async def close(self) -> None:
        await self.inner.close()
