"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chargepark import tracing
from chargepark.db.engine import Database
from tests.support.services import create_pg_database, drop_pg_database, pg_url, require_postgres

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def sqlite_db(tmp_path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    yield db
    await db.dispose()


@pytest.fixture
async def postgres_db() -> AsyncIterator[Database]:
    require_postgres()
    name = await create_pg_database()
    db = Database(pg_url(name))
    try:
        yield db
    finally:
        await db.dispose()
        await drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request) -> Database:
    """The same test on the embedded database and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, its spans kept in memory. Installed before anything the test
    starts: apps, connections and engines decide whether to trace when they are made."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()
