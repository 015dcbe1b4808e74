"""Buses and a consumer wired to the `notes` test service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chargepark.events.bus import EventBus
from chargepark.events.inprocess import InProcessBus
from tests.support.services import NATS_URL, require_nats, unique_name


async def delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


@pytest.fixture(params=["in_process", "nats"])
async def bus(request) -> AsyncIterator[EventBus]:
    """The same test on the embedded bus and on NATS JetStream (a stream of its own)."""
    if request.param == "in_process":
        yield InProcessBus(retry_base=0.01, retry_cap=0.05)
        return
    require_nats()
    from chargepark.events.nats import NatsBus

    stream = unique_name("TEST").upper()
    yield NatsBus(
        NATS_URL, stream=stream, subject_prefix=stream.lower(), retry_base=0.01, retry_cap=0.05
    )
    await delete_stream(NATS_URL, stream)
