"""For tests of the event bus: handlers that record what they are given, and a bus started and
ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from chargepark.events.bus import EventBus
from tests.contract.conftest import wait_ready


class Recorder:
    """Handlers that record what they are given; `fail` decides whether a delivery raises."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], int]] = []
        self._changed = asyncio.Event()

    def handler(self, consumer: str, fail: Callable[[dict[str, Any], int], bool] | None = None):
        async def handle(evt: dict[str, Any], attempt: int) -> None:
            self.seen.append((consumer, evt, attempt))
            self._changed.set()
            if fail is not None and fail(evt, attempt):
                raise RuntimeError(f"{consumer} fails attempt {attempt} (test)")

        return handle

    def of(self, consumer: str) -> list[dict[str, Any]]:
        return [evt for name, evt, _ in self.seen if name == consumer]

    def attempts(self, consumer: str, event_id: str) -> list[int]:
        return [a for name, evt, a in self.seen if name == consumer and evt["event_id"] == event_id]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


async def started(bus: EventBus) -> EventBus:
    await bus.start()
    await wait_ready(bus)
    return bus
