"""The simulated clock: simulated time runs `speed` times faster than the wall clock.

Every time a simulator puts in a message (timestamps) and every interval it waits for
(heartbeats, meter samples, boot retries, scenario waits) is simulated time.

- `SimClock(speed)` starts at the wall clock's now and runs ahead of it.
- `SimClock(speed, start=...)` starts at a time in the past and catches up: once simulated
  time reaches the wall clock it goes on at the wall clock's pace, so it never runs into the
  future (a parking gate time may not be in the future). Scenarios and the demo start their
  clock in the past by the length of their timeline, so what they play ends about now.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def isoformat(ts: datetime) -> str:
    """ISO-8601 UTC with a `Z` and whole milliseconds, as chargers send it."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimClock:
    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        *,
        wall: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._wall = wall or (lambda: datetime.now(UTC))
        self._mono = monotonic or time.monotonic
        self._t0 = self._mono()
        self._wall0 = self._wall()
        self.start = start if start is not None else self._wall0
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        # Catching up only makes sense from the past; a clock started now just runs ahead.
        self.catches_up = start is not None and self.start < self._wall0

    def _real(self) -> float:
        return self._mono() - self._t0

    def now(self) -> datetime:
        real = self._real()
        sim = self.start + timedelta(seconds=real * self.speed)
        if self.catches_up:
            wall = self._wall0 + timedelta(seconds=real)
            return min(sim, wall)
        return sim

    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        return (self.now() - self.start).total_seconds()

    def real_seconds_until(self, at: datetime) -> float:
        """Wall-clock seconds from now until the simulated clock shows `at` (0 if it has)."""
        target = (at - self.start).total_seconds()  # simulated seconds after the start
        if target <= 0:
            return 0.0
        real_at = target / self.speed
        if self.catches_up and self.speed > 1:
            gap = (self._wall0 - self.start).total_seconds()
            caught = gap / (self.speed - 1)  # wall seconds until simulated time meets the wall
            if real_at > caught:
                real_at = caught + (target - caught * self.speed)
        return max(0.0, real_at - self._real())

    async def sleep_until(self, at: datetime) -> None:
        while True:
            delay = self.real_seconds_until(at)
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time."""
        await self.sleep_until(self.now() + timedelta(seconds=seconds))

    def real(self, seconds: float) -> float:
        """About how many wall seconds `seconds` of simulated time take from now."""
        return self.real_seconds_until(self.now() + timedelta(seconds=seconds))
