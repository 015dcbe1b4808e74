"""The allocation property of tests/unit/parking, on the real repositories: SQLite and
PostgreSQL choose the same slots as the rules, never give one twice, and count right."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from chargepark.db import migrate
from chargepark.db.engine import Database
from parking.queries import ParkingQueries, StatusFilter
from parking.repository import SqlParkingUnitOfWork
from parking.service import ParkingService
from parking.single_statement import SingleStatementParking
from parking.store import kernel
from tests.conftest import FixedClock
from tests.support.parking import lots, operations, run_sequence
from tests.support.services import create_pg_database, drop_pg_database, pg_url, require_postgres


@pytest.fixture(params=["sqlite", "postgres", "postgres-single-statement"])
def database(request, tmp_path):
    """A migrated database, the event loop it lives on (hypothesis drives a sync test), and
    whether parks and leaves go through the single statements (PostgreSQL's fast path)."""
    loop = asyncio.new_event_loop()
    name = None
    if request.param.startswith("postgres"):
        require_postgres()
        name = loop.run_until_complete(create_pg_database())
        url = pg_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'alloc.db'}"
    db = Database(url)
    loop.run_until_complete(migrate.upgrade("parking", db))
    yield loop, db, request.param.endswith("single-statement")
    loop.run_until_complete(db.dispose())
    if name is not None:
        loop.run_until_complete(drop_pg_database(name))
    loop.close()


@pytest.mark.postgres
def test_random_park_leave_sequences_never_double_book_in_sql(database):
    loop, db, single_statement = database
    lot_ids = (f"P{n}" for n in itertools.count())

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(lots(), operations)
    def check(lot, ops):
        lot_id = next(lot_ids)
        # A charger connector is one bay in the whole service: each lot gets its own chargers.
        slots = [
            replace(s, charger_id=f"{lot_id}-{s.charger_id}") if s.ev_bay else replace(s)
            for s in lot[0]
        ]
        ev_bays_for_ice = lot[1]
        clock = FixedClock()
        units = lambda: SqlParkingUnitOfWork(db, kernel.outbox, clock, lambda: None)  # noqa: E731
        queries = ParkingQueries(db, clock)

        async def parked_now() -> dict[int, str]:
            rows = await queries.status(lot_id, StatusFilter(state="occupied"))
            capacity = await queries.capacity(lot_id)
            assert capacity.free + capacity.occupied_in_service == capacity.in_service
            assert capacity.occupied <= capacity.total
            return {r["slot_ui"]: r["regnum"] for r in rows}

        at_once = SingleStatementParking(db, kernel.outbox, lambda: None)
        parking = ParkingService(units, clock, at_once if single_statement else None)
        loop.run_until_complete(
            run_sequence(parking, clock, lot_id, slots, ev_bays_for_ice, ops, parked_now)
        )

    check()
