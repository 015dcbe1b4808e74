"""The accounts service on a real SQLite database, and its app over real HTTP."""

from __future__ import annotations

import pytest

from accounts.repository import SqlAccountsUnitOfWork
from accounts.service import AccountsService
from accounts.store import kernel
from tests.support.accounts import accounts_app, create_schema
from tests.support.tokens import TokenIssuer


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def db(sqlite_db):
    await create_schema(sqlite_db)
    return sqlite_db


@pytest.fixture
def accounts(db, clock) -> AccountsService:
    def uow() -> SqlAccountsUnitOfWork:
        return SqlAccountsUnitOfWork(db, kernel.outbox, clock, lambda: None)

    return AccountsService(uow, clock)


@pytest.fixture
async def client(aiohttp_client, db, clock, issuer):
    return await aiohttp_client(accounts_app(db, clock, issuer))
