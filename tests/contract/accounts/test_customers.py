"""The contract of accounts' unit of work and its repositories (accounts/ports.py): customers,
vehicles and id tokens, on the fake and on SQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.domain import (
    Customer,
    EmailTaken,
    Fuel,
    IdToken,
    IdTokenStatus,
    IdTokenTaken,
    IdTokenType,
    RegnumTaken,
    UnknownCustomer,
    UnknownIdToken,
    UnknownVehicle,
    Vehicle,
    VehicleKind,
)
from tests.conftest import T0

ADA = "0b6c7e0e-0000-4000-8000-000000000001"
BOB = "0b6c7e0e-0000-4000-8000-000000000002"


def a_customer(customer_id: str, name: str, email: str | None, minutes: int = 0) -> Customer:
    return Customer.register(customer_id, name, email, T0 + timedelta(minutes=minutes))[0]


async def two_customers(store) -> None:
    async with store.units() as uow:
        await uow.customers.add(a_customer(ADA, "Ada Lovelace", "ada@example.org"), "hash-a")
        await uow.customers.add(a_customer(BOB, "Bob", None, minutes=1), None)
        await uow.commit()


async def test_a_customer_reads_back_once_committed_and_its_email_is_unique(store):
    async with store.units() as uow:
        await uow.customers.add(a_customer(ADA, "Ada", "ada@example.org"), None)
    async with store.units() as uow:
        with pytest.raises(UnknownCustomer):
            await uow.customers.get(ADA)
    await two_customers(store)
    async with store.units() as uow:
        ada = await uow.customers.get(ADA, for_update=True)
        assert ada == a_customer(ADA, "Ada Lovelace", "ada@example.org")
        assert await uow.customers.email_taken("ada@example.org")
        assert not await uow.customers.email_taken("ada@example.org", besides=ADA)
        with pytest.raises(UnknownCustomer):
            await uow.customers.get("no such id")
    async with store.units() as uow:
        with pytest.raises(EmailTaken):
            await uow.customers.add(a_customer(BOB[:-1] + "3", "Eve", "ada@example.org"), None)


async def test_a_saved_customer_and_password_are_what_a_login_reads(store):
    await two_customers(store)
    assert await store.logins.by_email("ada@example.org") is not None
    async with store.units() as uow:
        ada = await uow.customers.get(ADA)
        ada.deactivate([], T0 + timedelta(hours=1))
        await uow.customers.save(ada)
        await uow.customers.set_password(ADA, "hash-b")
        await uow.commit()
    login = await store.logins.by_email("ada@example.org")
    assert login is not None
    assert (login.customer_id, login.password_hash, login.active) == (ADA, "hash-b", False)
    assert await store.logins.by_email("nobody@example.org") is None
    assert (await store.logins.is_active(ADA), await store.logins.is_active(BOB)) == (False, True)
    assert not await store.logins.is_active("no such id")


async def test_search_matches_name_or_email_in_any_case_or_the_id_oldest_first(store):
    await two_customers(store)
    async with store.units() as uow:
        assert await uow.customers.search("", 10, 0) == (
            [await uow.customers.get(ADA), await uow.customers.get(BOB)],
            2,
        )
        assert [c.id for c in (await uow.customers.search("LOVE", 10, 0))[0]] == [ADA]
        assert [c.id for c in (await uow.customers.search("example.org", 10, 0))[0]] == [ADA]
        assert [c.id for c in (await uow.customers.search(BOB, 10, 0))[0]] == [BOB]
        assert (await uow.customers.search("", 1, 1)) == ([await uow.customers.get(BOB)], 2)
        assert (await uow.customers.search("%", 10, 0)) == ([], 0)


async def test_a_vehicle_has_one_owner_and_can_be_changed_and_removed(store):
    await two_customers(store)
    car = Vehicle("AB123", ADA, VehicleKind.CAR, Fuel.EV, T0)
    async with store.units() as uow:
        await uow.vehicles.add(car)
        await uow.vehicles.add(Vehicle("CD456", ADA, VehicleKind.VAN, Fuel.ICE, T0))
        await uow.commit()
    async with store.units() as uow:
        with pytest.raises(RegnumTaken):
            await uow.vehicles.add(Vehicle("AB123", BOB, VehicleKind.CAR, Fuel.ICE, T0))
    async with store.units() as uow:
        car.kind = VehicleKind.VAN
        await uow.vehicles.save(car)
        await uow.vehicles.remove(await uow.vehicles.get("CD456"))
        await uow.commit()
    async with store.units() as uow:
        assert await uow.vehicles.of_customer(ADA) == [car]
        assert await uow.vehicles.find("CD456") is None
        with pytest.raises(UnknownVehicle):
            await uow.vehicles.get("CD456")


async def test_an_id_token_is_issued_once_and_saved_with_its_changes(store):
    await two_customers(store)
    token = IdToken("04A2B3", ADA, IdTokenType.ISO14443, IdTokenStatus.ACCEPTED, None, T0, T0)
    async with store.units() as uow:
        await uow.id_tokens.add(token)
        await uow.commit()
    async with store.units() as uow:
        with pytest.raises(IdTokenTaken):
            await uow.id_tokens.add(
                IdToken("04A2B3", BOB, IdTokenType.CENTRAL, IdTokenStatus.ACCEPTED, None, T0, T0)
            )
    later = T0 + timedelta(days=1)
    async with store.units() as uow:
        token.change(IdTokenStatus.BLOCKED, later, later)
        await uow.id_tokens.save(token)
        await uow.commit()
    async with store.units() as uow:
        assert await uow.id_tokens.get("04A2B3") == token
        assert await uow.id_tokens.of_customer(ADA) == [token]
        assert await uow.id_tokens.find("not a token") is None
        with pytest.raises(UnknownIdToken):
            await uow.id_tokens.get("FFFF")
