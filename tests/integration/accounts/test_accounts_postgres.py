"""The accounts service on PostgreSQL (migrated as in production): uniqueness under concurrent
requests, row locks between deactivation and issuing, and search."""

from __future__ import annotations

import asyncio

import pytest

from accounts.domain import (
    Customer,
    CustomerDeactivated,
    EmailTaken,
    Fuel,
    IdTokenType,
    VehicleKind,
)
from accounts.repository import SqlAccountsUnitOfWork
from accounts.service import (
    AccountsService,
    CreateCustomer,
    IssueIdToken,
    LinkVehicle,
    SearchCustomers,
)
from accounts.store import kernel
from tests.conftest import T0
from tests.support.accounts import accounts_app, operator, outbox_events
from tests.support.tokens import TokenIssuer

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema_of() -> str:
    """The databases start migrated (copied from a template)."""
    return "accounts"


@pytest.fixture
async def db(postgres_db):
    return postgres_db


@pytest.fixture
def units(db, clock):
    return lambda: SqlAccountsUnitOfWork(db, kernel.outbox, clock, lambda: None)


@pytest.fixture
def accounts(units, clock) -> AccountsService:
    return AccountsService(units, clock)


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def client(aiohttp_client, db, clock, issuer):
    return await aiohttp_client(accounts_app(db, clock, issuer))


async def test_concurrent_sign_ups_with_one_email_make_one_customer(accounts, db):
    results = await asyncio.gather(
        *(
            accounts.create_customer(CreateCustomer(f"Ada {i}", "ada@example.org"))
            for i in range(8)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, Customer)]
    assert len(created) == 1
    assert all(isinstance(r, EmailTaken) for r in results if r is not created[0])
    assert [e["event"] for e in await outbox_events(db)] == ["CustomerCreated"]


async def test_the_constraint_decides_when_both_checks_passed(units, clock):
    """Two transactions both saw the email free; the second insert waits for the first
    and then gets the same clean Conflict, not a driver error."""
    first, _ = Customer.register("c-1", "Ada", "ada@example.org", T0)
    second, _ = Customer.register("c-2", "Eve", "ada@example.org", T0)
    async with units() as a, units() as b:
        assert not await a.customers.email_taken("ada@example.org")
        assert not await b.customers.email_taken("ada@example.org")
        await a.customers.add(first, None)
        racing = asyncio.create_task(b.customers.add(second, None))
        await a.commit()
        with pytest.raises(EmailTaken):
            await racing


async def test_concurrent_http_requests_for_one_email_get_one_201_and_409s(client, issuer):
    ops = operator(issuer)
    body = {"name": "Ada", "email": "ada@example.org", "password": "correct horse"}
    responses = await asyncio.gather(
        *(client.post("/customers", json=body, headers=ops) for _ in range(6))
    )
    assert sorted(r.status for r in responses) == [201, 409, 409, 409, 409, 409]
    for response in responses:
        body = await response.json(content_type=None)
        if response.status == 409:
            assert response.content_type == "application/problem+json"
            assert body["type"] == "urn:chargepark:problem:conflict"


async def test_concurrent_links_of_one_regnum_leave_one_owner(client, issuer):
    ops = operator(issuer)
    ids = []
    for name in ["Ada", "Bob", "Cy", "Di"]:
        response = await client.post("/customers", json={"name": name}, headers=ops)
        ids.append((await response.json())["id"])
    car = {"regnum": "ab-123", "kind": "CAR", "fuel": "EV"}
    responses = await asyncio.gather(
        *(client.post(f"/customers/{c}/vehicles", json=car, headers=ops) for c in ids)
    )
    assert sorted(r.status for r in responses) == [201, 409, 409, 409]
    winner = ids[[r.status for r in responses].index(201)]
    owner = await (await client.get("/vehicles/AB123", headers=ops)).json()
    assert owner["customer_id"] == winner


async def test_a_token_issued_while_deactivating_never_stays_accepted(accounts):
    for round_ in range(5):
        ada = await accounts.create_customer(CreateCustomer(f"Ada {round_}"))
        token = f"T{round_}"
        results = await asyncio.gather(
            accounts.deactivate_customer(ada.id),
            accounts.issue_id_token(
                IssueIdToken(customer_id=ada.id, token=token, type=IdTokenType.CENTRAL)
            ),
            return_exceptions=True,
        )
        assert not isinstance(results[0], Exception)
        tokens = await accounts.list_id_tokens(ada.id)
        if isinstance(results[1], CustomerDeactivated):
            assert tokens == []
        else:
            assert [t.status for t in tokens] == ["Blocked"]


async def test_search_on_postgres_ignores_case_and_matches_wildcards_literally(accounts, clock):
    names = ["Åsa Öberg", "ÅSA Lind", "Ada 100%_sure", "Bob"]
    for name in names:
        await accounts.create_customer(CreateCustomer(name))
        clock.advance(seconds=1)

    async def found(query: str) -> list[str]:
        page = await accounts.search_customers(SearchCustomers(query))
        return [c.name for c in page.items]

    assert await found("åsa") == ["Åsa Öberg", "ÅSA Lind"]
    assert await found("%_") == ["Ada 100%_sure"]
    assert await found("_") == ["Ada 100%_sure"]


async def test_links_and_tokens_survive_a_round_trip_through_postgres(accounts):
    ada = await accounts.create_customer(CreateCustomer("Ada", "ada@example.org"))
    linked = await accounts.link_vehicle(LinkVehicle(ada.id, "AB123", VehicleKind.VAN, Fuel.ICE))
    assert await accounts.owner_of_vehicle("ab-123") == linked.vehicle
    assert await accounts.get_customer(ada.id) == ada
    issued = await accounts.issue_id_token(
        IssueIdToken(customer_id=ada.id, token="04AB", type=IdTokenType.ISO15693)
    )
    assert await accounts.lookup_id_token("04AB") == issued
