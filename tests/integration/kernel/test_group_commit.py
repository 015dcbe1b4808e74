"""Group commit: concurrent writers share commits, and each hears of its own outcome."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, select

from chargepark.db.group_commit import GroupCommitWriter

metadata = MetaData()
rows_table = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("who", String(16), nullable=False),
)


async def test_concurrent_writes_are_committed_in_fewer_transactions(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    commits = []
    event.listen(any_db.engine.sync_engine, "commit", lambda conn: commits.append(1))
    writer = GroupCommitWriter(any_db, rows_table)
    await asyncio.gather(*(writer.write([{"who": f"w{i}"}, {"who": f"w{i}"}]) for i in range(200)))
    async with any_db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(rows_table)) == 400
    assert 1 <= len(commits) < 200


async def test_a_failed_commit_fails_every_writer_in_it_and_the_next_ones_still_work(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    writer = GroupCommitWriter(any_db, rows_table)
    results = await asyncio.gather(
        writer.write([{"who": "ok"}]), writer.write([{"who": None}]), return_exceptions=True
    )
    assert any(isinstance(r, Exception) for r in results)
    await writer.write([{"who": "later"}])
    async with any_db.engine.connect() as conn:
        names = set((await conn.execute(select(rows_table.c.who))).scalars())
    assert "later" in names
    with pytest.raises(Exception):  # noqa: B017 - the driver's own IntegrityError kind
        await writer.write([{"who": None}])
