"""Requests through the bus (`serve` / `request`), run against the in-process bus and NATS alike:
a reply comes back, an unserved subject is "no responders" at once, a slow responder is a
timeout, requests are answered concurrently, and nothing reaches the event stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from chargepark.errors import BusUnavailable
from chargepark.events.bus import NoResponders
from tests.support.bus import Recorder, started


async def echo(data: bytes) -> bytes:
    return b"re: " + data


async def test_a_request_gets_its_responders_reply(bus):
    await bus.serve("csms.commands.node-a", echo)
    await started(bus)
    assert await bus.request("csms.commands.node-a", b"hello", 2.0) == b"re: hello"


async def test_a_responder_registered_after_start_answers_too(bus):
    await started(bus)
    await bus.serve("csms.commands.late", echo)
    async with asyncio.timeout(5):
        while True:  # over NATS the subscription reaches the server a moment later
            try:
                assert await bus.request("csms.commands.late", b"x", 1.0) == b"re: x"
                break
            except NoResponders:
                await asyncio.sleep(0.02)


async def test_a_subject_nobody_serves_is_no_responders_at_once(bus):
    await bus.serve("csms.commands.node-a", echo)
    await started(bus)
    began = time.monotonic()
    with pytest.raises(NoResponders):
        await bus.request("csms.commands.node-b", b"hello", 5.0)
    assert time.monotonic() - began < 1.0


async def test_a_slow_responder_is_a_timeout_and_a_failing_one_sends_no_reply(bus):
    async def slow(data: bytes) -> bytes:
        await asyncio.sleep(5)
        return data

    async def broken(data: bytes) -> bytes:
        raise RuntimeError("responder bug (test)")

    await bus.serve("slow", slow)
    await bus.serve("broken", broken)
    await started(bus)
    with pytest.raises(TimeoutError):
        await bus.request("slow", b"x", 0.2)
    with pytest.raises(TimeoutError):
        await bus.request("broken", b"x", 0.5)


async def test_requests_are_answered_concurrently(bus):
    async def wait_then_echo(data: bytes) -> bytes:
        await asyncio.sleep(0.3)
        return data

    await bus.serve("wait", wait_then_echo)
    await started(bus)
    began = time.monotonic()
    replies = await asyncio.gather(*(bus.request("wait", b"%d" % i, 3.0) for i in range(10)))
    assert replies == [b"%d" % i for i in range(10)]
    assert time.monotonic() - began < 2.0  # not ten times 0.3 s one after the other


async def test_requests_are_not_events(bus):
    rec = Recorder()
    await bus.subscribe("ops", ["csms"], rec.handler("ops"))
    await bus.serve("csms", echo)
    await started(bus)
    assert await bus.request("csms", b"{}", 2.0) == b"re: {}"
    await asyncio.sleep(0.2)
    assert rec.seen == []


async def test_a_bus_not_started_or_closed_refuses_requests(bus):
    await bus.serve("csms.commands.node-a", echo)
    with pytest.raises(BusUnavailable):
        await bus.request("csms.commands.node-a", b"x", 1.0)
    await started(bus)
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.request("csms.commands.node-a", b"x", 1.0)


@pytest.mark.parametrize("subject", ["", "a..b", "a.*", "a.>", "a b"])
async def test_a_subject_with_wildcards_or_empty_tokens_is_refused(bus, subject):
    with pytest.raises(ValueError, match="subject"):
        await bus.serve(subject, echo)
