"""For tests of the simulators riding out an outage: clocks that only the injected sleep moves,
and the port a small aiohttp stand-in for the platform listens on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from simulators.retry import RetryPolicy

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeTime:
    """Monotonic and wall clocks that only the injected sleep moves; `waits` lists each sleep.
    `on_sleep` runs before each (e.g. the server starts listening at the third)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.on_sleep: Any = None

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            await self.on_sleep(len(self.waits))

    def policy(self, deadline: float = 60.0, jitter: float = 1.0) -> RetryPolicy:
        return RetryPolicy(
            deadline=deadline,
            sleep=self.sleep,
            monotonic=self.monotonic,
            wall=self.wall,
            random=lambda: jitter,
        )


def port_of(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]
