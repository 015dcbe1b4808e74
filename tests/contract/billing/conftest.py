"""Billing's storage ports, each on the in-memory fake, SQLite and PostgreSQL: one case list,
every implementation (the fakes the unit tests trust behave as the SQL adapters do)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from billing.adapters.sql import SqlBillingUnitOfWork
from billing.ports import BillingUnitOfWork
from billing.store import kernel
from chargepark.db.engine import Database
from tests.support.fakes.billing import fake_units


@pytest.fixture
def schema_of() -> str:
    """Each SQL store under test starts migrated (copied from a template)."""
    return "billing"


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: Any) -> Database | None:
    """The database under test; None: the in-memory fake."""
    return None if request.param == "fake" else request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def units(store: Database | None, clock: Any) -> Callable[[], BillingUnitOfWork]:
    """A factory of billing units of work on a fresh store."""
    if store is None:
        return fake_units(clock)[1]
    db = store
    return lambda: SqlBillingUnitOfWork(db, kernel.outbox, clock, lambda: None)
