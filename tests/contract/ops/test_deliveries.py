"""The DeliveryRepository port (inside a unit of work) and the delivery reads of AlertReads
(outside one): the same cases on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from ops.domain.alerts import Delivery
from tests.support.ops import at


def delivery(incident_id: str, event_id: str) -> Delivery:
    return Delivery(
        incident_id=incident_id,
        event_id=event_id,
        event_type="AlertRaised",
        url="http://hook.example/x",
        payload="{}",
        next_attempt_at=at(0),
        created_at=at(0),
    )


async def test_deliveries_go_in_order_per_incident_and_are_claimed_once(store):
    async with store.units() as uow:
        for incident_id, event_id in (("i-1", "e-1"), ("i-1", "e-2"), ("i-2", "e-3")):
            await uow.deliveries.add(delivery(incident_id, event_id))
        await uow.commit()
    due = await store.reads.due_deliveries(at(1), 10)
    assert [d.event_id for d in due] == ["e-1", "e-3"]  # e-2 waits for e-1
    assert await store.reads.due_deliveries(at(-1), 10) == []
    first = due[0]

    async with store.units() as uow:
        assert await uow.deliveries.claim(first, at(2))
        assert not await uow.deliveries.claim(first, at(3))  # claimed: its time moved
        await uow.commit()
    assert [d.event_id for d in await store.reads.due_deliveries(at(1), 10)] == ["e-3"]

    sent = first.attempted(True, "HTTP 204", at(1), 5, at(1) - at(0))
    async with store.units() as uow:
        await uow.deliveries.save(sent)
        await uow.commit()
    assert [d.event_id for d in await store.reads.due_deliveries(at(1), 10)] == ["e-2", "e-3"]
    [got, waiting] = await store.reads.deliveries_of("i-1")
    assert (got.state, got.attempts, got.delivered_at, got.next_attempt_at) == (
        "delivered",
        1,
        at(1),
        None,
    )
    assert (waiting.event_id, waiting.state, waiting.attempts) == ("e-2", "pending", 0)
