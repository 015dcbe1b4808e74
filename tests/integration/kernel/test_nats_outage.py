"""A real NATS server dies and comes back: events wait in the outbox and none is lost or doubled."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import notes as n
from tests.support.outbox import wait_until, wired
from tests.support.procs import free_port
from tests.support.services import in_ci

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class PrivateNats:
    """A nats-server of this test's own, on a free port, with its own JetStream store."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_nats(tmp_path) -> Iterator[PrivateNats]:
    if not Path(NATS_SERVER).exists():
        if in_ci():
            pytest.fail("nats-server is not installed (CI=true: a missing service is a failure)")
        pytest.skip("nats-server is not installed; the outage test needs its own server")
    server = PrivateNats(tmp_path / "jetstream")
    server.start()
    yield server
    server.kill()


async def test_events_survive_a_nats_outage_and_arrive_once(sqlite_db, clock, private_nats):
    from chargepark.events.nats import NatsBus

    bus = NatsBus(private_nats.url, retry_base=0.01, retry_cap=0.1, publish_timeout=0.5)
    service, relay, _ = await wired(sqlite_db, bus, clock, max_backoff=0.3)
    await bus.start()
    relay.start()
    try:
        await wait_until(lambda: _true(bus.is_ready()), within=10)
        await service.park("BEFORE1")
        await wait_until(lambda: _eq(service.count(n.effects), 1), within=10)

        private_nats.kill()
        for regnum in ("DOWN1", "DOWN2", "DOWN3"):
            await asyncio.wait_for(service.park(regnum), timeout=2)  # never blocked by the bus
        await asyncio.sleep(1.0)
        assert await service.unsent() >= 1

        private_nats.start()
        await wait_until(lambda: _eq(service.unsent(), 0), within=30)
        await wait_until(lambda: _eq(service.count(n.effects), 4), within=30)
        await asyncio.sleep(0.5)  # a duplicate, if any, would land now
        assert await service.count(n.effects) == 4
    finally:
        await relay.stop(drain_timeout=1)
        await bus.close()


async def _eq(awaitable, expected: int) -> bool:
    return await awaitable == expected


async def _true(value: bool) -> bool:
    return value
