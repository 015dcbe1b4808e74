"""Brute-force protection for the token endpoint.

Failures are counted per key ("client:<id>", "user:<email>", "ip:<addr>") in the database, so
every accounts process sees them. Past a threshold a key is locked for a time that doubles with
each further failure, up to a cap; a success clears the client or user key (not the IP's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from accounts.ports import FailureCounts
from chargepark.clock import Clock

# Failures allowed before a lock: a user or client mistyping a few times is not locked; an
# address trying many logins is, later.
THRESHOLDS = {"user": 5, "client": 5, "ip": 20}
MAX_LOCK = timedelta(minutes=15)


class Locked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after} s")
        self.retry_after = retry_after


class Throttle:
    def __init__(self, failures: FailureCounts, clock: Clock) -> None:
        self.failures = failures
        self.clock = clock

    async def check(self, keys: Sequence[str]) -> None:
        """Raise Locked when any key is locked now."""
        now = self.clock.now()
        until = await self.failures.locked_until(keys, now)
        if until is not None:
            raise Locked(max(1, math.ceil((until - now).total_seconds())))

    async def failed(self, keys: Sequence[str]) -> None:
        await self.failures.add_failure(keys, self.clock.now(), _lock_until)

    async def succeeded(self, keys: Sequence[str]) -> None:
        keep = [k for k in keys if not k.startswith("ip:")]
        if keep:
            await self.failures.clear(keep)


def _lock_until(key: str, failures: int, now: datetime) -> datetime | None:
    threshold = THRESHOLDS[key.split(":", 1)[0]]
    if failures < threshold:
        return None
    seconds = 2 ** min(failures - threshold, 20)
    return now + min(timedelta(seconds=seconds), MAX_LOCK)
