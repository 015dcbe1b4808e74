"""Parking's storage, each implementation behind the same fixture: the in-memory fakes the unit
tests use, and the SQL adapters on SQLite and on PostgreSQL (migrated as in production)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from parking.ports import ParkingUnitOfWork
from parking.repository import SqlParkingUnitOfWork
from parking.service import ParkingService
from parking.single_statement import SingleStatementParking
from parking.store import kernel
from tests.support.fakes.parking import fake_units


@pytest.fixture
def schema_of() -> str:
    """Each SQL store under test starts migrated (copied from a template)."""
    return "parking"


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request) -> str:
    return request.param


@pytest.fixture
def database(request, storage: str) -> Any:
    """The SQL database of the implementation (None for the fake)."""
    return None if storage == "fake" else request.getfixturevalue(f"{storage}_db")


@pytest.fixture
async def units(database: Any, clock) -> Callable[[], ParkingUnitOfWork]:
    """Makes units of work on one fresh store."""
    if database is None:
        return fake_units()[1]
    db = database
    return lambda: SqlParkingUnitOfWork(db, kernel.outbox, clock, lambda: None)


@pytest.fixture(
    params=[
        "fake",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres_at_once", marks=pytest.mark.postgres),
    ]
)
def path(request) -> str:
    """Where the park and leave use cases write: the fakes, the general SQL path, or on
    PostgreSQL the single statements (parking/single_statement.py) in front of it."""
    return request.param


@pytest.fixture
def path_db(request, path: str) -> Any:
    return None if path == "fake" else request.getfixturevalue(f"{path.split('_')[0]}_db")


@dataclass
class Parking:
    service: ParkingService
    events: Callable[[], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
async def parking(path: str, path_db: Any, clock) -> Parking:
    if path_db is None:
        state, fakes = fake_units()

        async def faked() -> list[dict[str, Any]]:
            return list(state.outbox)

        return Parking(ParkingService(fakes, clock), faked)
    db = path_db
    at_once = None
    if path == "postgres_at_once":
        at_once = SingleStatementParking(db, kernel.outbox, lambda: None)
    units = lambda: SqlParkingUnitOfWork(db, kernel.outbox, clock, lambda: None)  # noqa: E731

    async def written() -> list[dict[str, Any]]:
        async with db.engine.connect() as conn:
            rows = await conn.execute(select(kernel.outbox.c.payload).order_by(kernel.outbox.c.id))
            return [json.loads(payload) for (payload,) in rows]

    return Parking(ParkingService(units, clock, at_once), written)
