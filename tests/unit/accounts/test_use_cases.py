"""Accounts' use cases on the in-memory fakes: what each one stores and announces, and what it
refuses (leaving nothing behind). The same cases on SQL are in tests/integration/accounts."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from accounts.domain import (
    CustomerDeactivated,
    EmailTaken,
    Fuel,
    IdTokenStatus,
    IdTokenTaken,
    IdTokenType,
    RegnumTaken,
    UnknownCustomer,
    UnknownIdToken,
    UnknownVehicle,
    VehicleKind,
)
from accounts.service import (
    AccountsService,
    CreateCustomer,
    IssueIdToken,
    LinkVehicle,
    SearchCustomers,
    UnlinkVehicle,
    UpdateCustomer,
    UpdateIdToken,
)
from chargepark.errors import Invalid
from chargepark.passwords import verify_password
from tests.conftest import T0
from tests.support.fakes.accounts import State, fake_accounts

CAR, EV, ICE = VehicleKind.CAR, Fuel.EV, Fuel.ICE


@pytest.fixture
def state_and_service(clock) -> tuple[State, AccountsService]:
    state, units = fake_accounts()
    ids = (f"c-{n}" for n in itertools.count(1))
    return state, AccountsService(units, clock, new_id=lambda: next(ids))


@pytest.fixture
def state(state_and_service) -> State:
    return state_and_service[0]


@pytest.fixture
def accounts(state_and_service) -> AccountsService:
    return state_and_service[1]


def events(state: State) -> list[str]:
    return [e["event"] for e in state.outbox]


async def test_a_new_customer_is_stored_with_a_hashed_password_and_announced(accounts, state):
    ada = await accounts.create_customer(CreateCustomer("Ada", "Ada@Example.org", "correct horse"))
    assert (ada.id, ada.email, ada.created_at) == ("c-1", "ada@example.org", T0)
    assert await accounts.get_customer("c-1") == ada
    assert await verify_password(state.passwords["c-1"], "correct horse")
    [event] = state.outbox
    assert (event["event"], event["customer_id"], event["ts"]) == (
        "CustomerCreated",
        "c-1",
        "2026-11-27T09:00:00Z",
    )


async def test_an_email_belongs_to_one_customer_and_a_refusal_leaves_nothing(accounts, state):
    await accounts.create_customer(CreateCustomer("Ada", "ada@example.org"))
    with pytest.raises(EmailTaken):
        await accounts.create_customer(CreateCustomer("Eve", "ADA@example.org"))
    bob = await accounts.create_customer(CreateCustomer("Bob", "bob@example.org"))
    with pytest.raises(EmailTaken):
        await accounts.update_customer(UpdateCustomer(bob.id, email="ada@example.org"))
    assert (await accounts.get_customer(bob.id)).email == "bob@example.org"
    assert events(state) == ["CustomerCreated", "CustomerCreated"]


async def test_updating_changes_name_email_and_password(accounts, state, clock):
    ada = await accounts.create_customer(CreateCustomer("Ada", "ada@example.org", "first pass"))
    clock.advance(minutes=1)
    changed = await accounts.update_customer(
        UpdateCustomer(ada.id, name=" Ada L ", email=None, password="second pass")
    )
    assert (changed.name, changed.email, changed.updated_at) == ("Ada L", None, clock.now())
    assert await verify_password(state.passwords[ada.id], "second pass")
    with pytest.raises(Invalid, match="password"):
        await accounts.update_customer(UpdateCustomer(ada.id, password="short"))
    with pytest.raises(UnknownCustomer):
        await accounts.get_customer("nobody")


async def test_search_pages_matches_of_name_email_or_id_oldest_first(accounts, clock):
    for name, email in [("Ada", "ada@x.org"), ("Bob", "bob@x.org"), ("Adam", None)]:
        await accounts.create_customer(CreateCustomer(name, email))
        clock.advance(seconds=1)
    page = await accounts.search_customers(SearchCustomers("ada", limit=1))
    assert ([c.name for c in page.items], page.total) == (["Ada"], 2)
    page = await accounts.search_customers(SearchCustomers("ADA", limit=5, offset=1))
    assert [c.name for c in page.items] == ["Adam"]
    assert [c.name for c in (await accounts.search_customers(SearchCustomers("c-2"))).items] == [
        "Bob"
    ]
    with pytest.raises(Invalid):
        await accounts.search_customers(SearchCustomers(limit=0))


async def test_a_regnum_has_one_owner_until_it_is_unlinked(accounts, state):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    linked = await accounts.link_vehicle(LinkVehicle(ada.id, "ab-123", CAR, EV))
    assert (linked.vehicle.regnum, linked.created) == ("AB123", True)
    again = await accounts.link_vehicle(LinkVehicle(ada.id, "AB 123", CAR, EV))
    assert again.created is False  # nothing changed: no event either
    with pytest.raises(RegnumTaken):
        await accounts.link_vehicle(LinkVehicle(bob.id, "AB123", CAR, ICE))
    assert (await accounts.owner_of_vehicle("ab123")).customer_id == ada.id
    with pytest.raises(UnknownVehicle):
        await accounts.unlink_vehicle(UnlinkVehicle(bob.id, "AB123"))
    await accounts.unlink_vehicle(UnlinkVehicle(ada.id, "AB123"))
    await accounts.link_vehicle(LinkVehicle(bob.id, "AB123", CAR, ICE))
    assert [v.regnum for v in await accounts.list_vehicles(bob.id)] == ["AB123"]
    assert events(state)[2:] == ["VehicleLinked", "VehicleUnlinked", "VehicleLinked"]


async def test_an_id_token_is_issued_once_and_answers_its_effective_status(accounts, clock):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    expires = T0 + timedelta(hours=1)
    issued = await accounts.issue_id_token(
        IssueIdToken(
            customer_id=ada.id, token="04A2B3C4", type=IdTokenType.ISO14443, expires_at=expires
        )
    )
    assert (issued.status, issued.customer_id, issued.expires_at) == ("Accepted", ada.id, expires)
    with pytest.raises(IdTokenTaken):
        await accounts.issue_id_token(
            IssueIdToken(customer_id=bob.id, token="04A2B3C4", type=IdTokenType.ISO14443)
        )
    clock.advance(hours=1)
    assert (await accounts.lookup_id_token("04A2B3C4")).status == "Expired"
    with pytest.raises(UnknownIdToken):
        await accounts.lookup_id_token("bad token")


async def test_an_id_token_changes_only_through_its_own_customer(accounts, state):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    await accounts.issue_id_token(
        IssueIdToken(customer_id=ada.id, token="T1", type=IdTokenType.CENTRAL)
    )
    with pytest.raises(UnknownIdToken):
        await accounts.update_id_token(UpdateIdToken(bob.id, "T1", IdTokenStatus.BLOCKED))
    same = await accounts.update_id_token(UpdateIdToken(ada.id, "T1", IdTokenStatus.ACCEPTED))
    assert same.status == "Accepted" and events(state).count("IdTokenChanged") == 1
    blocked = await accounts.update_id_token(UpdateIdToken(ada.id, "T1", IdTokenStatus.BLOCKED))
    assert blocked.status == "Blocked" and events(state).count("IdTokenChanged") == 2


async def test_deactivating_blocks_the_tokens_keeps_the_vehicles_and_refuses_new_ones(
    accounts, state
):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    await accounts.link_vehicle(LinkVehicle(ada.id, "AB1", CAR, EV))
    await accounts.issue_id_token(
        IssueIdToken(customer_id=ada.id, token="T1", type=IdTokenType.CENTRAL)
    )
    gone = await accounts.deactivate_customer(ada.id)
    assert gone.status == "deactivated"
    assert [t.status for t in await accounts.list_id_tokens(ada.id)] == ["Blocked"]
    assert [v.regnum for v in await accounts.list_vehicles(ada.id)] == ["AB1"]
    with pytest.raises(CustomerDeactivated):
        await accounts.issue_id_token(
            IssueIdToken(customer_id=ada.id, token="T2", type=IdTokenType.CENTRAL)
        )
    with pytest.raises(CustomerDeactivated):
        await accounts.update_id_token(UpdateIdToken(ada.id, "T1", IdTokenStatus.ACCEPTED))
    assert events(state)[-1] == "IdTokenChanged" and len(state.outbox) == 4
