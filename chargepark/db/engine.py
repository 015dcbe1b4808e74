"""One async engine per service database: SQLite (aiosqlite) embedded, PostgreSQL (asyncpg) else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from chargepark import tracing
from chargepark.db.driver_pool import DriverPool
from chargepark.db.tracing import trace_statements

MAX_CONNECTIONS = 60  # to one service's PostgreSQL database, per process


@dataclass(frozen=True)
class PoolSizes:
    """How a process's connections to one PostgreSQL database are shared among its three pools:
    the main pool (requests, consumers, jobs), the writers' (csms's batch writers, parking's
    unit of work, the outbox relay) and asyncpg's own (parking's single statements). Each pool
    opens connections only as it needs them; these are the most each may hold."""

    main: int
    main_overflow: int
    writer: int
    writer_overflow: int
    driver: int

    @classmethod
    def within(cls, total: int) -> PoolSizes:
        """Sizes adding up to at most `total` (at least 5, one per part), in the proportions
        measured to serve the benchmarks at 60: 10 + 10, 16 + 8, 16."""
        if total < 5:
            raise ValueError(f"at least 5 connections are needed, not {total}")
        main = max(1, total * 10 // 60)
        writer = max(1, total * 16 // 60)
        writer_overflow = max(1, total * 8 // 60)
        driver = max(1, total * 16 // 60)
        return cls(
            main, total - main - writer - writer_overflow - driver, writer, writer_overflow, driver
        )


class Database:
    """An engine and its session factory; created at start-up, disposed at shutdown."""

    def __init__(
        self, url: str, *, echo: bool = False, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        self.url = url
        self.echo = echo
        self.pools = PoolSizes.within(max_connections)
        self.engine: AsyncEngine = create_engine(url, echo=echo, pools=self.pools)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer: AsyncEngine | None = None
        # PostgreSQL: asyncpg's own pool, for single statements sent past SQLAlchemy.
        self.driver = (
            None if url.startswith("sqlite") else DriverPool(url, max_size=self.pools.driver)
        )

    @property
    def writer(self) -> AsyncEngine:
        """The hot path's batch writers' engine. On PostgreSQL a pool of its own without
        `pool_pre_ping`: each batch is one or two statements, and the ping before every checkout
        was one more round trip per batch. A connection that died meanwhile fails its batch
        (the pool is then invalidated and the batch's items retried alone, on new connections).
        Parking's park/leave unit of work uses it too (one connection per request in flight,
        hence up to 16 kept by default: overflow connections are closed at check-in and opened
        again). On SQLite the one engine (one writer at a time anyway)."""
        if self.is_sqlite:
            return self.engine
        if self._writer is None:
            self._writer = create_async_engine(
                self.url,
                echo=self.echo,
                pool_size=self.pools.writer,
                max_overflow=self.pools.writer_overflow,
                pool_pre_ping=False,
            )
            if tracing.enabled:
                trace_statements(self._writer.sync_engine, "postgresql")
        return self._writer

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.driver is not None:
            await self.driver.close()
        if self._writer is not None:
            await self._writer.dispose()
        await self.engine.dispose()


def create_engine(url: str, *, echo: bool = False, pools: PoolSizes | None = None) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _sqlite_pragmas(engine)
    else:
        pools = pools or PoolSizes.within(MAX_CONNECTIONS)
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pools.main,
            max_overflow=pools.main_overflow,
            pool_pre_ping=True,
        )
    if tracing.enabled:  # decided when the engine is made: nothing per statement when off
        trace_statements(engine.sync_engine, engine.dialect.name)
    return engine


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    # pysqlite's own BEGIN handling is deferred and skips SELECTs; a deferred transaction that
    # reads and then writes fails with SQLITE_BUSY (no wait) when another writer got in between.
    # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue on busy_timeout
    # instead of failing. (Recipe from SQLAlchemy's "pysqlite serializable isolation" docs.)
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
