"""The session store port (csms/ports/sessions.py): one list of cases run on the in-memory
fake, on SQLite and on PostgreSQL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import bay_vehicles, chargers, kernel, metadata
from csms.domain.sessions import ENERGY_INTERVAL, ENERGY_REGISTER, Reading, Session
from csms.ports.sessions import SessionUnitOfWork
from tests.conftest import T0, FixedClock
from tests.support.fakes.csms.sessions import FakeUnits


class Backend(ABC):
    """A store to run the cases on, and how a case sets up what the store only reads."""

    def __init__(self, units: Callable[[], SessionUnitOfWork]) -> None:
        self.units = units

    @abstractmethod
    async def given_charger(self, charger_id: str, tariff_id: str | None) -> None: ...

    @abstractmethod
    async def given_vehicle(
        self, charger_id: str, evse_id: int | None, regnum: str, at: datetime, left: bool = False
    ) -> None: ...


class FakeBackend(Backend):
    def __init__(self) -> None:
        self.fake = FakeUnits()
        super().__init__(self.fake)

    async def given_charger(self, charger_id: str, tariff_id: str | None) -> None:
        self.fake.data.tariffs[charger_id] = tariff_id

    async def given_vehicle(
        self, charger_id: str, evse_id: int | None, regnum: str, at: datetime, left: bool = False
    ) -> None:
        gone = at + timedelta(minutes=1) if left else None
        self.fake.data.vehicles.append((charger_id, evse_id, regnum, at, gone))


class SqlBackend(Backend):
    def __init__(self, db: Any) -> None:
        self.db = db
        clock = FixedClock()
        super().__init__(lambda: CsmsUnitOfWork(db, kernel.outbox, clock, lambda: None))

    async def given_charger(self, charger_id: str, tariff_id: str | None) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                insert(chargers).values(
                    id=charger_id,
                    tariff_id=tariff_id,
                    registration="Accepted",
                    created_at=T0,
                    updated_at=T0,
                )
            )

    async def given_vehicle(
        self, charger_id: str, evse_id: int | None, regnum: str, at: datetime, left: bool = False
    ) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                insert(bay_vehicles).values(
                    lot_id="L-1",
                    regnum=regnum,
                    arrived_at=at,
                    charger_id=charger_id,
                    evse_id=evse_id,
                    left_at=at + timedelta(minutes=1) if left else None,
                )
            )


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request) -> Any:
    """None for the fake, else the database (the `any_db` way)."""
    return None if request.param == "fake" else request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def store(db) -> Backend:
    if db is None:
        return FakeBackend()
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return SqlBackend(db)


def a_session(**values: Any) -> Session:
    session = Session.open(
        charger_id="CP-1",
        transaction_id="1",
        evse_id=1,
        connector_id=1,
        at=T0,
        id_token="RFID-1",
        meter_start_wh=1000,
        start_key="1|RFID-1|1000|t0",
    )
    return replace(session, **values)


def a_remote_start(at: datetime, **values: Any) -> Session:
    fields = {"charger_id": "CP-1", "evse_id": 0, "connector_id": 0, "id_token": "RFID-1"}
    return Session.open(at=at, **(fields | values))


def sample(tx: str, minute: int, value: str, **kw: Any) -> dict[str, Any]:
    return {
        "charger_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": tx,
        "sampled_at": T0 + timedelta(minutes=minute),
        "measurand": ENERGY_REGISTER,
        "phase": None,
        "unit": None,
        "multiplier": None,
        "context": None,
        "location": None,
        "value": value,
    } | kw


async def add(store: Backend, *sessions: Session) -> None:
    async with store.units() as uow:
        for session in sessions:
            await uow.sessions.add(session)
        await uow.commit()


async def test_a_session_reads_back_as_it_was_added_and_saved(store):
    session = a_session(seq_missing="3-4", last_seq_no=5, offline_events=2)
    await add(store, session)
    async with store.units() as uow:
        assert await uow.sessions.by_transaction("CP-1", "1") == session
        assert await uow.sessions.by_start_key("CP-1", "1|RFID-1|1000|t0") == session
        assert await uow.sessions.by_transaction("CP-2", "1") is None
        closed = session.close(5000, T0 + timedelta(hours=1), "Local")
        assert closed is not None
        await uow.sessions.save(session)
        await uow.commit()
    async with store.units() as uow:
        assert await uow.sessions.by_transaction("CP-1", "1") == session


async def test_what_is_not_committed_is_not_kept(store):
    await add(store, a_session())
    async with store.units() as uow:
        session = await uow.sessions.by_transaction("CP-1", "1")
        assert session is not None
        session.close(5000, T0, "Local")
        await uow.sessions.save(session)
        await uow.sessions.add(a_session(id="s-2", transaction_id="2", start_key=None))
    async with store.units() as uow:
        kept = await uow.sessions.by_transaction("CP-1", "1")
        assert kept is not None and kept.status == "active"
        assert await uow.sessions.by_transaction("CP-1", "2") is None


async def test_a_remote_start_is_found_by_its_id_or_by_evse_and_token_oldest_first(store):
    older = a_remote_start(T0, remote_start_id=7)
    newer = a_remote_start(T0 + timedelta(seconds=5), evse_id=2, remote_start_id=8)
    other = a_remote_start(T0, id_token="RFID-2", remote_start_id=9)
    await add(store, newer, older, other, a_session())
    async with store.units() as uow:
        found = uow.sessions.pending_start
        assert (await found("CP-1", 0, "", remote_start_id=8)) == newer
        assert (await found("CP-1", 2, "RFID-1")) == older  # EVSE 0: any EVSE
        assert (await found("CP-1", 3, "RFID-2")) == other
        assert await found("CP-1", 1, "RFID-3") is None
        assert await found("CP-2", 0, "", remote_start_id=8) is None


async def test_a_token_is_active_in_an_active_session_only(store):
    session = a_session()
    await add(store, session, a_remote_start(T0, id_token="RFID-2", remote_start_id=1))
    async with store.units() as uow:
        assert await uow.sessions.active_for_token("RFID-1")
        assert not await uow.sessions.active_for_token("RFID-1", besides=session.id)
        assert not await uow.sessions.active_for_token("RFID-2")  # pending is not active


async def test_transaction_numbers_are_new_and_increasing(store):
    async with store.units() as uow:
        first = await uow.sessions.next_transaction_id("CP-1")
        second = await uow.sessions.next_transaction_id("CP-2")
        await uow.commit()
    assert second > first >= 1


async def test_the_energy_readings_of_a_transaction_s_samples(store):
    async with store.units() as uow:
        await uow.sessions.add_samples(
            [
                sample("1", 20, "2.5", unit="kWh"),
                sample("1", 10, "15", multiplier=2),
                sample("1", 15, "999", phase="L1"),  # per phase: counted in the whole already
                sample("1", 12, "12", measurand="Power.Active.Import"),
                sample("1", 12, "abc"),  # no number
                sample("1", 5, "300", measurand=ENERGY_INTERVAL),
                sample("1", 6, "200", measurand=ENERGY_INTERVAL),
                sample("2", 5, "7000"),
            ]
        )
        await uow.commit()
    async with store.units() as uow:
        readings = await uow.sessions.readings("CP-1", "1")
        assert await uow.sessions.readings("CP-9", "1") == type(readings)()
    assert readings.registers == [
        Reading(T0 + timedelta(minutes=10), 1500),
        Reading(T0 + timedelta(minutes=20), 2500),
    ]
    assert readings.interval_wh == 500


async def test_the_tariff_and_the_vehicle_a_session_inherits(store):
    await store.given_charger("CP-1", "T-EV")
    await store.given_charger("CP-2", None)
    await store.given_vehicle("CP-1", 1, "OLD1", T0)
    await store.given_vehicle("CP-1", 1, "NEW1", T0 + timedelta(minutes=5))
    await store.given_vehicle("CP-1", 1, "GONE1", T0 + timedelta(minutes=9), left=True)
    await store.given_vehicle("CP-1", None, "ANY1", T0 + timedelta(minutes=2))
    async with store.units() as uow:
        assert await uow.sessions.charger_tariff("CP-1") == "T-EV"
        assert await uow.sessions.charger_tariff("CP-2") is None
        assert await uow.sessions.charger_tariff("CP-9") is None
        assert await uow.sessions.vehicle_at("CP-1", 1) == "NEW1"
        assert await uow.sessions.vehicle_at("CP-1", 2) == "ANY1"
        assert await uow.sessions.vehicle_at("CP-2", 1) is None
