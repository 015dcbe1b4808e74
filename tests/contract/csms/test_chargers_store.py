"""The charger store port (csms/ports/chargers.py): one list of cases run on the in-memory
fake, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import kernel, metadata
from csms.domain.chargers import (
    BootInfo,
    Charger,
    ChargerExists,
    Connector,
    Registration,
    UnknownCharger,
)
from csms.ports.chargers import ChargerStore
from tests.conftest import T0, FixedClock
from tests.support.fakes.csms.chargers import FakeChargerStore


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request) -> Any:
    """None for the fake, else the database (the `any_db` way)."""
    return None if request.param == "fake" else request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def store(db) -> Callable[[], contextlib.AbstractAsyncContextManager[ChargerStore]]:
    """`async with store() as chargers:` one committed unit of work (the fake has none)."""
    if db is None:
        fake = FakeChargerStore()

        @contextlib.asynccontextmanager
        async def the_fake() -> AsyncIterator[ChargerStore]:
            yield fake

        return the_fake
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    clock = FixedClock()

    @contextlib.asynccontextmanager
    async def unit() -> AsyncIterator[ChargerStore]:
        async with CsmsUnitOfWork(db, kernel.outbox, clock, lambda: None) as uow:
            yield uow.chargers
            await uow.commit()

    return unit


def a_charger(charger_id: str = "CP-1", **values: Any) -> Charger:
    return Charger(
        id=charger_id,
        registration=Registration.ACCEPTED,
        created_at=T0,
        updated_at=T0,
        **values,
    )


def a_connector(evse_id: int, status: str, minute: int = 0) -> Connector:
    return Connector(evse_id, 1, status, None, None, T0 + timedelta(minutes=minute))


async def test_a_charger_reads_back_as_added_and_saved(store):
    charger = a_charger(password_hash="h", tariff_id="T-1", expected_vendor="ACME")
    async with store() as chargers:
        await chargers.add(charger)
    async with store() as chargers:
        assert await chargers.get("CP-1") == charger
        assert await chargers.find("CP-9") is None
        charger.tariff_id = "T-2"
        charger.boot(BootInfo("ACME", "AC-22", "SN-1", "1.0"), "2.0.1", T0 + timedelta(hours=1))
        await chargers.save(charger)
    async with store() as chargers:
        assert await chargers.get("CP-1") == charger
        with pytest.raises(UnknownCharger):
            await chargers.get("CP-9")


async def test_a_charger_is_registered_once(store):
    async with store() as chargers:
        await chargers.add(a_charger())
    with pytest.raises(ChargerExists):
        async with store() as chargers:
            await chargers.add(a_charger())


async def test_connectors_are_upserted_and_read_with_their_charger(store):
    async with store() as chargers:
        await chargers.add_many([a_charger("CP-1"), a_charger("CP-2")])
        await chargers.save_connectors([("CP-1", a_connector(1, "Available"))])
    async with store() as chargers:
        await chargers.save_connectors(
            [("CP-1", a_connector(1, "Charging", 5)), ("CP-1", a_connector(2, "Faulted"))]
        )
    async with store() as chargers:
        states = await chargers.connector_states(["CP-2", "CP-1", "CP-9"])
        found = await chargers.find_many(["CP-2", "CP-1", "CP-9"])
        bare = await chargers.find_many(["CP-1"], with_connectors=False)
        charger = await chargers.get("CP-1")
    assert states == {
        "CP-1": {(1, 1): a_connector(1, "Charging", 5), (2, 1): a_connector(2, "Faulted")},
        "CP-2": {},
    }
    assert list(found) == ["CP-1", "CP-2"] and found["CP-1"].connectors == states["CP-1"]
    assert charger.connectors == states["CP-1"] and bare["CP-1"].connectors == {}


async def test_boots_last_seen_times_and_credentials_for_many_at_once(store):
    async with store() as chargers:
        await chargers.add_many([a_charger("CP-1", password_hash="h1"), a_charger("CP-2")])
    later = T0 + timedelta(minutes=3)
    async with store() as chargers:
        booted = await chargers.get("CP-1")
        booted.boot(BootInfo("ACME", "AC-22"), "1.6", later)
        await chargers.save_boots([booted])
        await chargers.touch({"CP-2": later, "CP-9": later})
    async with store() as chargers:
        assert await chargers.get("CP-1") == booted
        assert (await chargers.get("CP-2")).last_seen_at == later
        assert await chargers.credentials(["CP-1", "CP-2", "CP-9"]) == {"CP-1": "h1", "CP-2": None}


async def test_chargers_are_paged_in_id_order_and_removed_with_their_connectors(store):
    async with store() as chargers:
        await chargers.add_many([a_charger(f"CP-{i}") for i in (3, 1, 2)])
        await chargers.save_connectors([("CP-2", a_connector(1, "Available"))])
    async with store() as chargers:
        page, total = await chargers.page(2, 1)
        assert ([c.id for c in page], total) == (["CP-2", "CP-3"], 3)
        await chargers.remove("CP-2")
    async with store() as chargers:
        assert await chargers.find("CP-2") is None
        assert await chargers.connector_states(["CP-2"]) == {}
        with pytest.raises(UnknownCharger):
            await chargers.remove("CP-2")
