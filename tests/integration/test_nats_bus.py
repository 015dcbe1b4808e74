"""NatsBus behaviour that only a real NATS JetStream server (or its absence) shows."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chargepark.errors import BusUnavailable
from chargepark.events.nats import NatsBus
from tests.contract.conftest import delete_stream, wait_ready
from tests.support.services import NATS_URL, require_nats, unique_name

pytestmark = pytest.mark.nats


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def envelope(event_type: str, n: int) -> tuple[str, bytes]:
    event_id = str(uuid.uuid4())
    body = {"event": event_type, "event_id": event_id, "ts": "2026-11-27T09:00:00Z", "n": n}
    return event_id, json.dumps(body).encode()


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    require_nats()
    name = unique_name("TEST").upper()
    yield name
    await delete_stream(NATS_URL, name)


def nats_bus(stream: str, **options: Any) -> NatsBus:
    options = {"retry_base": 0.01, "retry_cap": 0.05} | options
    return NatsBus(NATS_URL, stream=stream, subject_prefix=stream.lower(), **options)


async def test_start_with_the_server_unreachable_returns_at_once_and_publish_fails():
    bus = NatsBus(f"nats://127.0.0.1:{free_port()}", retry_base=0.01, retry_cap=0.05)

    async def handler(event: dict[str, Any], attempt: int) -> None:
        raise AssertionError("nothing can be delivered")

    await bus.subscribe("billing", ["VehicleParked"], handler)
    try:
        await asyncio.wait_for(bus.start(), timeout=0.5)
        await asyncio.sleep(0.1)  # a few connection attempts go by
        assert not bus.is_ready()
        event_id, payload = envelope("VehicleParked", 1)
        with pytest.raises(BusUnavailable):
            await asyncio.wait_for(bus.publish("VehicleParked", event_id, payload), timeout=0.5)
    finally:
        await asyncio.wait_for(bus.close(), timeout=2)
    assert not bus.is_ready()


async def test_a_bus_that_never_started_closes_and_refuses_to_publish():
    bus = NatsBus(f"nats://127.0.0.1:{free_port()}")
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.publish("VehicleParked", *envelope("VehicleParked", 1))


async def test_a_restarted_bus_resumes_its_durable_consumer_where_it_left_off(stream):
    first: list[int] = []
    holding_three = asyncio.Event()

    async def handle_first(event: dict[str, Any], attempt: int) -> None:
        first.append(event["n"])
        if event["n"] == 3:
            holding_three.set()
            await asyncio.Event().wait()  # still running when the bus closes: never acked

    bus = nats_bus(stream)
    await bus.subscribe("billing", ["ChargingSessionClosed"], handle_first)
    await bus.start()
    await wait_ready(bus)
    for n in (1, 2, 3):
        await bus.publish("ChargingSessionClosed", *envelope("ChargingSessionClosed", n))
    await asyncio.wait_for(holding_three.wait(), timeout=5)
    await bus.close()

    # Published while no consumer runs.
    publisher = nats_bus(stream)
    await publisher.start()
    await wait_ready(publisher)
    await publisher.publish("ChargingSessionClosed", *envelope("ChargingSessionClosed", 4))
    await publisher.close()

    second: list[tuple[int, int]] = []
    got_both = asyncio.Event()

    async def handle_second(event: dict[str, Any], attempt: int) -> None:
        second.append((event["n"], attempt))
        if {n for n, _ in second} >= {3, 4}:
            got_both.set()

    restarted = nats_bus(stream)
    await restarted.subscribe("billing", ["ChargingSessionClosed"], handle_second)
    await restarted.start()
    try:
        await asyncio.wait_for(got_both.wait(), timeout=5)
        await asyncio.sleep(0.2)
    finally:
        await restarted.close()

    assert first == [1, 2, 3]
    assert second == [(3, 2), (4, 1)]  # 1 and 2 were acked before the restart; 3 was not


async def test_an_undecodable_payload_is_terminated_and_does_not_block_the_next(stream):
    seen: list[int] = []
    done = asyncio.Event()

    async def handler(event: dict[str, Any], attempt: int) -> None:
        seen.append(event["n"])
        done.set()

    bus = nats_bus(stream)
    await bus.subscribe("ops", ["AlertRaised"], handler)
    await bus.start()
    try:
        await wait_ready(bus)
        await bus.publish("AlertRaised", str(uuid.uuid4()), b"\xff not json")
        await bus.publish("AlertRaised", *envelope("AlertRaised", 7))
        await asyncio.wait_for(done.wait(), timeout=5)
        await asyncio.sleep(0.2)
    finally:
        await bus.close()
    assert seen == [7]


async def test_start_updates_the_duplicate_window_of_an_existing_stream(stream):
    import nats

    for window in (120.0, 30.0):
        bus = nats_bus(stream, duplicate_window=window)
        await bus.start()
        try:
            await wait_ready(bus)
        finally:
            await bus.close()

    nc = await nats.connect(NATS_URL, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()
    assert info.config.duplicate_window == 30.0
    assert info.config.subjects == [f"{stream.lower()}.>"]
