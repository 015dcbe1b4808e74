"""Group commit: many small inserts from concurrent callers become one bulk insert (a COPY on
PostgreSQL, `bulk.insert_committed`).

A caller awaits `write(rows)` until its rows are committed, so nothing it acknowledges can be
lost; but callers that arrive while a commit is running share the next one (`Batcher`), and up
to `concurrency` commits overlap their round trips. The queue is bounded (`max_pending` rows):
past it `write` raises `Overloaded` at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Table

from chargepark.db import bulk
from chargepark.db.batcher import Batcher, Overloaded
from chargepark.db.engine import Database

__all__ = ["GroupCommitWriter", "Overloaded"]

Rows = Sequence[Mapping[str, Any]]


class Companion(Protocol):
    """What else each batch writes, in the batch's own transaction (e.g. outbox rows that
    summarize it): rows for `table` that commit with the batch's rows or not at all."""

    table: Table

    def rows_for(self, rows: Rows) -> Rows: ...

    def committed(self) -> None: ...


class GroupCommitWriter:
    def __init__(
        self,
        db: Database,
        table: Table,
        *,
        max_rows: int = 2000,
        max_pending: int = 50_000,
        concurrency: int = 4,
        companion: Companion | None = None,
    ) -> None:
        self.db = db
        self.table = table
        self.companion = companion
        self._batcher: Batcher[Rows, None] = Batcher(
            self._commit,
            name=f"group-commit-{table.name}",
            max_batch=max_rows,
            max_pending=max_pending,
            size=len,
            concurrency=concurrency,  # plain inserts: commits may overlap
        )

    async def write(self, rows: Rows) -> None:
        if rows:
            await self._batcher.submit(rows)

    async def _commit(self, batch: Sequence[Rows]) -> list[None]:
        rows = [r for rows in batch for r in rows]
        companion = self.companion
        if companion is None:
            await bulk.insert_committed(self.db.writer, self.table, rows)
        else:
            also = (companion.table, companion.rows_for(rows))
            await bulk.insert_committed(self.db.writer, self.table, rows, also)
            companion.committed()
        return [None] * len(batch)

    async def close(self) -> None:
        await self._batcher.close()
