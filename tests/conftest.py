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
from tests.support import templates
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


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    templates.drop_all()


@pytest.fixture
def schema_of() -> str | None:
    """The service whose schema `sqlite_db` and `postgres_db` come with, at its head revision
    (copied from a template migrated once per run: tests/support/templates.py); None: empty
    databases. A directory's or module's fixture of this name says which."""
    return None


@pytest.fixture
async def sqlite_db(tmp_path, schema_of: str | None) -> AsyncIterator[Database]:
    path = tmp_path / "test.db"
    if schema_of is not None:
        await templates.copy_sqlite(schema_of, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    yield db
    await db.dispose()


@pytest.fixture
async def postgres_db(schema_of: str | None) -> AsyncIterator[Database]:
    require_postgres()
    if schema_of is not None:
        name = await templates.create_postgres(schema_of)
    else:
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
