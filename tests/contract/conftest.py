"""The event bus transports, each behind the same fixture, for the contract suite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

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
    async with buses(transport, retry_base=0.01, retry_cap=0.05) as make:
        yield make()


@pytest.fixture
async def paced_buses(transport: str) -> AsyncIterator[Callable[[], EventBus]]:
    """Makes unstarted buses with the transports' own retry pacing (as in production), all on
    one stream: a second one is the same consumers after a restart. Closed afterwards."""
    async with buses(transport) as make:
        yield make


@contextlib.asynccontextmanager
async def buses(transport: str, **retry: float) -> AsyncIterator[Callable[[], EventBus]]:
    made: list[EventBus] = []
    if transport == "in_process":

        def make() -> EventBus:
            made.append(InProcessBus(**retry))
            return made[-1]

        try:
            yield make
        finally:
            for bus in made:
                await bus.close()
        return
    require_nats()
    from chargepark.events.nats import NatsBus

    stream = unique_name("TEST").upper()

    def make_nats() -> EventBus:
        made.append(NatsBus(NATS_URL, stream=stream, subject_prefix=stream.lower(), **retry))
        return made[-1]

    try:
        yield make_nats
    finally:
        for bus in made:
            await bus.close()
        await delete_stream(NATS_URL, stream)
