"""ops' storage ports, each behind the same fixture: the in-memory fakes, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from chargepark.db.engine import Database
from ops.adapters.alert_store import SqlAlertReads
from ops.adapters.queries import OpsQueries
from ops.adapters.sql_uow import SqlOpsUnitOfWork
from ops.ports import AlertReads, OpsUnitOfWork, RuleFacts
from ops.store import alert_rules, kernel
from tests.conftest import FixedClock
from tests.support.fakes.ops import FakeOps


@dataclass
class Store:
    units: Callable[[], OpsUnitOfWork]
    reads: AlertReads
    facts: RuleFacts


@pytest.fixture
def schema_of() -> str:
    """Each SQL store under test starts migrated (copied from a template)."""
    return "ops"


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops_db(request) -> Database | None:
    return None if request.param == "fake" else request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def store(ops_db: Database | None, clock: FixedClock) -> Store:
    if ops_db is None:
        fake = FakeOps()
        return Store(fake.units, fake.reads, fake.facts)
    # The port's cases start from an empty store, as the fake does: without the built-in rules
    # the migrations ship (tests/integration/ops covers those).
    async with ops_db.engine.begin() as conn:
        await conn.execute(delete(alert_rules))
    return Store(
        lambda: SqlOpsUnitOfWork(ops_db, kernel.outbox, clock, lambda: None),
        SqlAlertReads(ops_db),
        OpsQueries(ops_db, clock),
    )
