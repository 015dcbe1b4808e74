"""The ChargerView contract (parking/ports.py): the live view parking's consumers keep, on the
fake and on SQL alike. Events arrive in any order; the newest of each thing wins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from chargepark.clock import as_utc
from chargepark.db.uow import UnitOfWork
from parking.charger_view import SqlChargerView
from parking.ports import ChargerStatus, ChargerView, EnergyReading, SessionClosed, SessionStarted
from parking.store import charging_sessions, connector_status, energy_readings, kernel
from tests.conftest import T0
from tests.support.fakes.parking import FakeChargerView

LATER = T0 + timedelta(minutes=5)


@dataclass
class Views:
    write: Callable[[Callable[[ChargerView], Awaitable[None]]], Awaitable[None]]
    rows: Callable[[], Awaitable[dict[str, list[dict[str, Any]]]]]


@pytest.fixture
async def views(database: Any, clock) -> Views:
    if database is None:
        fake = FakeChargerView()

        async def write_fake(change: Callable[[ChargerView], Awaitable[None]]) -> None:
            await change(fake)

        async def fake_rows() -> dict[str, list[dict[str, Any]]]:
            return {
                "statuses": sorted(fake.statuses.values(), key=_key),
                "sessions": sorted(fake.sessions.values(), key=_key),
                "readings": sorted(fake.readings.values(), key=_key),
            }

        return Views(write_fake, fake_rows)
    db = database  # migrated: schema_of in conftest.py

    async def write_sql(change: Callable[[ChargerView], Awaitable[None]]) -> None:
        async with UnitOfWork(db, kernel.outbox, clock, lambda: None) as unit:
            await change(SqlChargerView(unit))
            await unit.commit()

    async def sql_rows() -> dict[str, list[dict[str, Any]]]:
        async with db.engine.connect() as conn:
            tables = {
                "statuses": connector_status,
                "sessions": charging_sessions,
                "readings": energy_readings,
            }
            return {
                name: sorted(
                    [_utc(dict(r._mapping)) for r in await conn.execute(select(t))], key=_key
                )
                for name, t in tables.items()
            }

    return Views(write_sql, sql_rows)


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return (str(row.get("session_id")), row["charger_id"], str(row["evse_id"]))


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v) if hasattr(v, "tzinfo") else v for k, v in row.items()}


def status(at, value: str = "Available") -> ChargerStatus:
    return ChargerStatus(charger_id="CP-1", evse_id=1, status=value, error_code=None, at=at)


async def test_the_newest_status_of_a_connector_wins(views):
    await views.write(lambda v: v.status_changed(status(LATER, "Occupied")))
    await views.write(lambda v: v.status_changed(status(T0, "Available")))  # older: ignored
    [row] = (await views.rows())["statuses"]
    assert (row["status"], row["status_at"]) == ("Occupied", LATER)


async def test_a_close_that_overtook_its_start_stays_closed(views):
    closed = SessionClosed(
        session_id="S-1",
        charger_id="CP-1",
        evse_id=1,
        started_at=T0,
        ended_at=LATER,
        regnum="AB1",
        energy_wh=1500,
        kwh="1.5",
    )
    started = SessionStarted(
        session_id="S-1",
        charger_id="CP-1",
        evse_id=1,
        started_at=T0,
        meter_start_wh=100,
        regnum="AB1",
    )
    await views.write(lambda v: v.session_closed(closed))
    await views.write(lambda v: v.session_started(started))
    [row] = (await views.rows())["sessions"]
    assert (row["started_at"], row["meter_start_wh"], row["ended_at"], row["kwh"]) == (
        T0,
        100,
        LATER,
        "1.5",
    )


async def test_the_newest_energy_reading_of_a_connector_wins(views):
    await views.write(
        lambda v: v.energy_read(
            [EnergyReading("CP-1", 1, 2000, LATER), EnergyReading("CP-1", 2, 10, T0)]
        )
    )
    await views.write(lambda v: v.energy_read([EnergyReading("CP-1", 1, 1000, T0)]))
    rows = (await views.rows())["readings"]
    assert [(r["evse_id"], r["energy_wh"], r["read_at"]) for r in rows] == [
        (1, 2000, LATER),
        (2, 10, T0),
    ]
