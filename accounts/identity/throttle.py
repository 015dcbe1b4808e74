"""Brute-force protection for the token endpoint.

Failures are counted per key ("client:<id>", "user:<email>", "ip:<addr>") in the database, so
every accounts process sees them. Past a threshold a key is locked for a time that doubles with
each further failure, up to a cap; a success clears the client or user key (not the IP's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from accounts.store import auth_failures
from chargepark.clock import Clock, as_utc
from chargepark.db.engine import Database

# Failures allowed before a lock: a user or client mistyping a few times is not locked; an
# address trying many logins is, later.
THRESHOLDS = {"user": 5, "client": 5, "ip": 20}
MAX_LOCK = timedelta(minutes=15)


class Locked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after} s")
        self.retry_after = retry_after


class Throttle:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def check(self, keys: Sequence[str]) -> None:
        """Raise Locked when any key is locked now."""
        now = self.clock.now()
        t = auth_failures
        async with self.db.engine.connect() as conn:
            until = await conn.scalar(
                select(t.c.locked_until)
                .where(t.c.key.in_(keys), t.c.locked_until > now)
                .order_by(t.c.locked_until.desc())
                .limit(1)
            )
        if until is not None:
            raise Locked(max(1, math.ceil((as_utc(until) - now).total_seconds())))

    async def failed(self, keys: Sequence[str]) -> None:
        now = self.clock.now()
        t = auth_failures
        async with self.db.engine.begin() as conn:
            for key in keys:
                count = await conn.scalar(select(t.c.failures).where(t.c.key == key))
                failures = (count or 0) + 1
                values = {
                    "failures": failures,
                    "updated_at": now,
                    "locked_until": _lock_until(key, failures, now),
                }
                if count is None:
                    await conn.execute(insert(t), {"key": key, **values})
                else:
                    await conn.execute(update(t).where(t.c.key == key).values(**values))

    async def succeeded(self, keys: Sequence[str]) -> None:
        keep = [k for k in keys if not k.startswith("ip:")]
        if keep:
            async with self.db.engine.begin() as conn:
                await conn.execute(delete(auth_failures).where(auth_failures.c.key.in_(keep)))


def _lock_until(key: str, failures: int, now: datetime) -> datetime | None:
    threshold = THRESHOLDS[key.split(":", 1)[0]]
    if failures < threshold:
        return None
    seconds = 2 ** min(failures - threshold, 20)
    return now + min(timedelta(seconds=seconds), MAX_LOCK)
