"""The event bus transports, each behind the same fixture, for the contract suite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from chargepark.events.bus import EventBus
from chargepark.events.inprocess import InProcessBus
from tests.support.services import NATS_URL, require_nats, unique_name


async def delete_stream(url: str, stream: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, allow_reconnect=False)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def wait_ready(bus: EventBus, seconds: float = 5.0) -> None:
    """Polls is_ready() (the port has no readiness event) for up to `seconds`."""
    for _ in range(int(seconds / 0.01)):
        if bus.is_ready():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the bus was not ready within {seconds} s")


@pytest.fixture(params=["in_process", pytest.param("nats", marks=pytest.mark.nats)])
def transport(request) -> str:
    return request.param


@pytest.fixture
async def bus(transport: str) -> AsyncIterator[EventBus]:
    """An unstarted bus: subscribe, then start. Closed (and its stream deleted) afterwards."""
    if transport == "in_process":
        in_process = InProcessBus(retry_base=0.01, retry_cap=0.05)
        yield in_process
        await in_process.close()
        return
    require_nats()
    from chargepark.events.nats import NatsBus

    stream = unique_name("TEST").upper()
    nats_bus = NatsBus(
        NATS_URL, stream=stream, subject_prefix=stream.lower(), retry_base=0.01, retry_cap=0.05
    )
    try:
        yield nats_bus
    finally:
        await nats_bus.close()
        await delete_stream(NATS_URL, stream)
