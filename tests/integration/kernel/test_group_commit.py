"""Group commit: concurrent writers share commits, and each hears of its own outcome."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from chargepark.db import bulk
from chargepark.db.group_commit import GroupCommitWriter, Overloaded

metadata = MetaData()
rows_table = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("who", String(16), nullable=False),
)


async def test_concurrent_writes_are_committed_in_fewer_transactions(any_db, monkeypatch):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    commits = []
    insert_committed = bulk.insert_committed

    async def counted(*args):
        commits.append(1)
        await insert_committed(*args)

    monkeypatch.setattr(bulk, "insert_committed", counted)
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


async def test_a_full_queue_refuses_writes_at_once_instead_of_queueing_them(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    writer = GroupCommitWriter(any_db, rows_table, max_pending=3, concurrency=1)
    first = asyncio.ensure_future(writer.write([{"who": "a"}, {"who": "b"}]))
    second = asyncio.ensure_future(writer.write([{"who": "c"}]))
    await asyncio.sleep(0)  # both queued; nothing committed yet
    with pytest.raises(Overloaded):
        await writer.write([{"who": "d"}])
    await asyncio.gather(first, second)
    await writer.write([{"who": "e"}])  # room again once committed
    async with any_db.engine.connect() as conn:
        names = set((await conn.execute(select(rows_table.c.who))).scalars())
    assert names == {"a", "b", "c", "e"}


async def test_one_bad_row_fails_only_its_own_writer(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    writer = GroupCommitWriter(any_db, rows_table)
    results = await asyncio.gather(
        writer.write([{"who": "ok-1"}]),
        writer.write([{"who": None}]),
        writer.write([{"who": "ok-2"}]),
        return_exceptions=True,
    )
    assert [isinstance(r, Exception) for r in results] == [False, True, False]
    async with any_db.engine.connect() as conn:
        names = set((await conn.execute(select(rows_table.c.who))).scalars())
    assert names == {"ok-1", "ok-2"}


async def test_rows_that_name_different_columns_are_all_written(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    writer = GroupCommitWriter(any_db, rows_table, concurrency=1)  # both in one batch
    await asyncio.gather(writer.write([{"who": "a"}]), writer.write([{"id": 77, "who": "b"}]))
    async with any_db.engine.connect() as conn:
        rows = {tuple(r) for r in await conn.execute(select(rows_table.c.id, rows_table.c.who))}
    assert {who for _, who in rows} == {"a", "b"} and (77, "b") in rows


notes_table = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rows", Integer, nullable=False),
)


class Summary:
    """A companion that writes one note per batch; `fail` makes it raise while making it,
    `clash` makes its row break the notes' primary key inside the batch's transaction."""

    table = notes_table

    def __init__(self) -> None:
        self.fail = False
        self.clash = False
        self.commits = 0

    def rows_for(self, rows):
        if self.fail:
            raise RuntimeError("companion failed")
        return [{"id": 1, "rows": len(rows)} if self.clash else {"rows": len(rows)}]

    def committed(self) -> None:
        self.commits += 1


async def test_a_companion_commits_with_its_batch_or_not_at_all(any_db):
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    summary = Summary()
    writer = GroupCommitWriter(any_db, rows_table, companion=summary)
    # An explicit id 1 first, so that `clash` below collides with it.
    await writer.write([{"who": "first"}])
    await asyncio.gather(*(writer.write([{"who": f"w{i}"}]) for i in range(50)))
    async with any_db.engine.connect() as conn:
        noted = sum((await conn.execute(select(notes_table.c.rows))).scalars())
        stored = await conn.scalar(select(func.count()).select_from(rows_table))
    assert noted == stored == 51 and summary.commits >= 2
    commits = summary.commits
    # A companion that fails takes the rows down with it.
    summary.fail = True
    with pytest.raises(RuntimeError):
        await writer.write([{"who": "lost"}])
    # So does its row failing in the database (PostgreSQL: the one-statement path).
    summary.fail, summary.clash = False, True
    with pytest.raises(Exception):  # noqa: B017 - the driver's own IntegrityError kind
        await writer.write([{"who": "lost too"}])
    async with any_db.engine.connect() as conn:
        who = set((await conn.execute(select(rows_table.c.who))).scalars())
        noted_after = sum((await conn.execute(select(notes_table.c.rows))).scalars())
    assert not {"lost", "lost too"} & who and noted_after == 51
    assert summary.commits == commits


async def test_a_value_too_long_is_refused_with_its_batch_not_cut(postgres_db):
    async with postgres_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    writer = GroupCommitWriter(postgres_db, rows_table, companion=Summary())
    with pytest.raises(Exception):  # noqa: B017 - asyncpg's StringDataRightTruncationError
        await writer.write([{"who": "x" * 17}, {"who": "ok"}])  # String(16)
    await writer.write([{"who": "a"}, {"who": "a"}])  # every column constant
    async with postgres_db.engine.connect() as conn:
        who = list((await conn.execute(select(rows_table.c.who))).scalars())
        noted = list((await conn.execute(select(notes_table.c.rows))).scalars())
    assert who == ["a", "a"] and noted == [2]
