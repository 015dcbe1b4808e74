"""Group commit: many small inserts from concurrent callers become one multi-row INSERT.

A caller awaits `write(rows)` until its rows are committed, so nothing it acknowledges can be
lost; but callers that arrive while a commit is running share the next one. Under load the
batches grow by themselves and the per-message database cost falls; idle, a lone write
commits at once (no timer, no added latency).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert

from chargepark.db.engine import Database

log = logging.getLogger(__name__)


class GroupCommitWriter:
    def __init__(self, db: Database, table: Table, *, max_rows: int = 2000) -> None:
        self.db = db
        self.table = table
        self.max_rows = max_rows
        self._waiting: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"group-commit-{self.table}")
        await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, size = [], 0
            while self._waiting and (not batch or size + len(self._waiting[0][0]) <= self.max_rows):
                rows, done = self._waiting.pop(0)
                batch.append((rows, done))
                size += len(rows)
            try:
                async with self.db.engine.begin() as conn:
                    await conn.execute(insert(self.table), [r for rows, _ in batch for r in rows])
            except Exception as exc:  # every caller in the batch hears of it and can answer
                log.error(
                    "group commit failed",
                    extra={"table": self.table.name, "rows": size, "error": str(exc)},
                )
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
