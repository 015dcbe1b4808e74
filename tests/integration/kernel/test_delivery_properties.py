"""Property: whatever the bus does (down, up, redelivering), every event is applied exactly once
and in the order its producer committed it."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargepark.db.engine import Database
from chargepark.errors import BusUnavailable
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from chargepark.events.inprocess import InProcessBus
from chargepark.events.outbox import OutboxRelay
from tests.conftest import FixedClock
from tests.support import notes as n
from tests.support.outbox import SwitchableBus

STEPS = st.lists(
    st.one_of(
        st.just(("park",)),
        st.just(("relay",)),
        st.just(("down",)),
        st.just(("up",)),
        st.tuples(st.just("redeliver"), st.integers(min_value=0, max_value=50)),
    ),
    min_size=1,
    max_size=40,
)


async def play(db: Database, steps: list[tuple[Any, ...]]) -> tuple[int, list[str], list[str]]:
    clock = FixedClock()
    bus = SwitchableBus(InProcessBus(retry_base=0.001, retry_cap=0.002))
    await n.create_schema(db)
    relay = OutboxRelay("notes", db, n.kernel.outbox, bus, clock=clock, batch_size=3)
    service = n.Notes(db, relay, clock)
    applied: list[str] = []

    async def record(event: dict[str, Any], uow) -> None:
        applied.append(event["regnum"])
        await service.record_effect(event, uow)

    consumer = Consumer(
        "c",
        service.uow,
        n.kernel.inbox,
        n.kernel.dead_letters,
        {"VehicleParked": record},
        reads={"VehicleParked": reads(["regnum"])},
    )
    await bus.subscribe("notes", consumer.event_types, consumer.deliver)
    await bus.start()
    parked: list[str] = []
    published: list[dict[str, Any]] = []
    for step in steps:
        if step[0] == "park":
            parked.append(f"CAR{len(parked)}")
            published.append(await service.park(parked[-1]))
        elif step[0] == "relay":
            with contextlib.suppress(BusUnavailable):
                await relay.run_once()
        elif step[0] == "down":
            bus.down = True
        elif step[0] == "up":
            bus.down = False
        else:  # the transport hands an event it already delivered over again
            delivered = [e for e in published if e["regnum"] in applied]
            if delivered:
                await consumer.deliver(dict(delivered[step[1] % len(delivered)]), 2)
    bus.down = False
    while await relay.run_once():
        pass
    await bus.close()
    return await service.count(n.effects), applied, parked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_every_event_is_applied_once_in_commit_order(steps):
    with tempfile.TemporaryDirectory() as tmp:

        async def run():
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'p.db'}")
            try:
                return await play(db, steps)
            finally:
                await db.dispose()

        effects, applied, parked = asyncio.run(run())
    assert effects == len(parked)
    assert applied == parked  # each once, in commit order
