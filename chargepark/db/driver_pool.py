"""asyncpg's own pool, for the hot paths' statements sent past SQLAlchemy.

A checkout from SQLAlchemy's pool costs a few greenlet switches and its check-in a reset; for a
request whose whole database work is one statement (parking's park or leave) that was a
twentieth of the request's CPU. asyncpg's pool hands out its connections directly. Check-in
sends nothing: these statements run in implicit transactions and change no session state, so
there is nothing to reset (asyncpg's default reset would be one more round trip per request).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from chargepark.db.bulk import answered


class DriverPool:
    """Created with the service's database URL; connects on first use, up to `max_size`."""

    def __init__(self, url: str, *, max_size: int = 16) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the pool. One that the server closed meanwhile is replaced on
        checkout (asyncpg reconnects it); one left mid-protocol by an error PostgreSQL did not
        answer (lost, cut off, cancelled) is closed rather than handed out again."""
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            try:
                yield conn
            except BaseException as exc:
                if not answered(exc):
                    conn.terminate()
                raise

    async def _open(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self.max_size, reset=_nothing_to_reset
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _nothing_to_reset(_conn: Any) -> None:
    return None
