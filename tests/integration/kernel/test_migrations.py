"""Every service's migration history, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from chargepark.db import migrate
from chargepark.platform.config import SERVICES
from chargepark.platform.runtime import definition_of


async def table_names(db) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def schema_drift(db, metadata) -> list:
    def diff(conn):
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)

    async with db.engine.connect() as conn:
        return await conn.run_sync(diff)


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_go_up_and_down_and_match_the_tables_in_code(any_db, service):
    definition = definition_of(service)
    await migrate.upgrade(service, any_db)
    assert await migrate.current_revision(service, any_db) == migrate.head_revision(service)
    tables = await table_names(any_db)
    assert {"outbox", "inbox", "dead_letters"} <= tables
    assert set(definition.metadata.tables) <= tables
    drift = [
        d
        for d in await schema_drift(any_db, definition.metadata)
        if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))
    ]
    assert drift == []

    await migrate.downgrade(service, any_db, "base")
    assert await migrate.current_revision(service, any_db) is None
    assert await table_names(any_db) <= {migrate.version_table(service)}

    await migrate.upgrade(service, any_db)  # and up again, from nothing
    assert await migrate.current_revision(service, any_db) == migrate.head_revision(service)


async def test_upgrading_twice_changes_nothing(sqlite_db):
    await migrate.upgrade("parking", sqlite_db)
    await migrate.upgrade("parking", sqlite_db)
    assert await migrate.current_revision("parking", sqlite_db) == migrate.head_revision("parking")
