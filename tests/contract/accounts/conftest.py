"""Accounts' storage, each implementation behind the same fixtures: the in-memory fakes the unit
tests use, and the SQL adapters on SQLite and on PostgreSQL (migrated as in production)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.adapters.identity import (
    SqlClientRecords,
    SqlCustomerLogins,
    SqlFailureCounts,
    SqlKeyRecords,
    SqlRefreshTokens,
)
from accounts.ports import (
    AccountsUnitOfWork,
    ClientRecords,
    CustomerLogins,
    FailureCounts,
    KeyRecords,
    RefreshTokens,
)
from accounts.repository import SqlAccountsUnitOfWork
from accounts.store import kernel
from tests.support.fakes.accounts import (
    FakeClientRecords,
    FakeCustomerLogins,
    FakeFailureCounts,
    FakeKeyRecords,
    FakeRefreshTokens,
    fake_accounts,
)


@pytest.fixture
def schema_of() -> str:
    """Each SQL store under test starts migrated (copied from a template)."""
    return "accounts"


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request) -> str:
    return request.param


@pytest.fixture
def database(request, storage: str) -> Any:
    """The SQL database of the implementation (None for the fake)."""
    return None if storage == "fake" else request.getfixturevalue(f"{storage}_db")


@dataclass
class Store:
    units: Callable[[], AccountsUnitOfWork]
    logins: CustomerLogins
    clients: ClientRecords
    keys: KeyRecords
    refresh_tokens: RefreshTokens
    failures: FailureCounts


@pytest.fixture
async def store(database: Any, clock) -> Store:
    """One fresh store: the customers' units of work and the issuer's records on it."""
    if database is None:
        state, units = fake_accounts()
        return Store(
            units,
            FakeCustomerLogins(state),
            FakeClientRecords(),
            FakeKeyRecords(),
            FakeRefreshTokens(),
            FakeFailureCounts(),
        )
    db = database
    return Store(
        lambda: SqlAccountsUnitOfWork(db, kernel.outbox, clock, lambda: None),
        SqlCustomerLogins(db),
        SqlClientRecords(db),
        SqlKeyRecords(db),
        SqlRefreshTokens(db),
        SqlFailureCounts(db),
    )
