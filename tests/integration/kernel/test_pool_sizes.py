"""CHARGEPARK_DB_MAX_CONNECTIONS bounds what one process opens to one PostgreSQL database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from chargepark.db.engine import MAX_CONNECTIONS, Database, PoolSizes
from chargepark.errors import ConfigError
from chargepark.platform.config import load_settings

pytestmark = pytest.mark.postgres


def _total(p: PoolSizes) -> int:
    return p.main + p.main_overflow + p.writer + p.writer_overflow + p.driver


@pytest.mark.parametrize("total", [5, 6, 7, 10, 23, 60, 61, 100, 500])
def test_the_pools_share_the_total_and_each_has_one_at_least(total):
    sizes = PoolSizes.within(total)
    assert _total(sizes) == total
    assert min(sizes.main, sizes.writer, sizes.writer_overflow, sizes.driver) >= 1


def test_the_default_is_what_the_benchmarks_ran_with():
    assert PoolSizes.within(MAX_CONNECTIONS) == PoolSizes(10, 10, 16, 8, 16)
    assert load_settings({}).db_max_connections == MAX_CONNECTIONS


@pytest.mark.parametrize("raw", ["4", "0", "lots", ""])
def test_fewer_than_five_or_no_number_is_a_config_error(raw):
    with pytest.raises(ConfigError, match=r"CHARGEPARK_DB_MAX_CONNECTIONS: .* at least 5"):
        load_settings({"CHARGEPARK_DB_MAX_CONNECTIONS": raw})


async def _connections_to(db: Database, name: str) -> int:
    async with db.engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
        return (await conn.execute(query, {"name": name})).scalar_one()


async def test_many_callers_at_once_never_open_more_than_the_bound(postgres_db):
    name = postgres_db.url.rsplit("/", 1)[1]
    db = Database(postgres_db.url, max_connections=8)
    observer = Database(postgres_db.url, max_connections=5)
    release = asyncio.Event()

    async def hold(kind: str) -> None:
        if kind == "driver":
            assert db.driver is not None
            async with db.driver.connection() as conn:
                await conn.fetchval("SELECT 1")
                await release.wait()
        else:
            engine = db.engine if kind == "main" else db.writer
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await release.wait()

    holders = [asyncio.create_task(hold(k)) for k in ("main", "writer", "driver") * 10]
    try:
        await asyncio.sleep(0.5)  # every pool as full as it may get; the rest wait their turn
        in_use = await _connections_to(observer, name) - 1  # the observer's own
        assert in_use == 8
        assert sum(not t.done() for t in holders) == 30  # waiting, not failing
    finally:
        release.set()
        await asyncio.gather(*holders)
        await db.dispose()
        await observer.dispose()
