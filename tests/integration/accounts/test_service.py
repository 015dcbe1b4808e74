"""The accounts use cases on a real SQLite database: state and events commit together."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.domain import (
    CustomerDeactivated,
    CustomerStatus,
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
    CreateCustomer,
    IssueIdToken,
    LinkVehicle,
    SearchCustomers,
    UnlinkVehicle,
    UpdateCustomer,
    UpdateIdToken,
)
from accounts.store import customers
from chargepark.errors import Invalid
from chargepark.passwords import verify_password
from tests.conftest import T0
from tests.support.accounts import outbox_events


async def password_hash_of(db, customer_id: str) -> str | None:
    async with db.engine.connect() as conn:
        query = select(customers.c.password_hash).where(customers.c.id == customer_id)
        return (await conn.execute(query)).scalar_one()


async def event_types(db) -> list[str]:
    return [e["event"] for e in await outbox_events(db)]


async def test_a_new_customer_is_stored_with_a_hashed_password_and_announced(accounts, db):
    ada = await accounts.create_customer(
        CreateCustomer("Ada Lovelace", "Ada@Example.org", "correct horse")
    )
    assert await accounts.get_customer(ada.id) == ada
    assert (ada.email, ada.status, ada.created_at) == ("ada@example.org", "active", T0)
    stored = await password_hash_of(db, ada.id)
    assert stored.startswith("$argon2id$") and await verify_password(stored, "correct horse")
    [event] = await outbox_events(db)
    assert (event["event"], event["customer_id"], event["ts"]) == (
        "CustomerCreated",
        ada.id,
        "2026-11-27T09:00:00Z",
    )


async def test_a_customer_needs_no_email_or_password(accounts, db):
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    assert bob.email is None and await password_hash_of(db, bob.id) is None


@pytest.mark.parametrize("password", ["short", "x" * 257])
async def test_a_password_has_bounded_length(accounts, password):
    with pytest.raises(Invalid, match="password"):
        await accounts.create_customer(CreateCustomer("Ada", password=password))


async def test_an_email_belongs_to_one_customer(accounts, db):
    await accounts.create_customer(CreateCustomer("Ada", "ada@example.org"))
    with pytest.raises(EmailTaken):
        await accounts.create_customer(CreateCustomer("Ada Two", "ADA@example.org"))
    bob = await accounts.create_customer(CreateCustomer("Bob", "bob@example.org"))
    with pytest.raises(EmailTaken):
        await accounts.update_customer(UpdateCustomer(bob.id, email="ada@example.org"))
    assert await event_types(db) == ["CustomerCreated", "CustomerCreated"]


async def test_concurrent_sign_ups_with_one_email_make_one_customer(accounts):
    results = await asyncio.gather(
        *(
            accounts.create_customer(CreateCustomer(f"Ada {i}", "ada@example.org"))
            for i in range(4)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, EmailTaken) for r in results) == 3
    assert (await accounts.search_customers(SearchCustomers("ada@"))).total == 1


async def test_updating_changes_name_email_and_password(accounts, db, clock):
    ada = await accounts.create_customer(CreateCustomer("Ada", "ada@example.org", "first password"))
    clock.advance(hours=1)
    changed = await accounts.update_customer(
        UpdateCustomer(ada.id, name="Ada L.", email="ADA.L@example.org", password="second password")
    )
    assert (changed.name, changed.email, changed.updated_at) == (
        "Ada L.",
        "ada.l@example.org",
        T0 + timedelta(hours=1),
    )
    assert await accounts.get_customer(ada.id) == changed
    assert await verify_password(await password_hash_of(db, ada.id), "second password")
    cleared = await accounts.update_customer(UpdateCustomer(ada.id, email=None))
    assert cleared.email is None and cleared.name == "Ada L."


async def test_an_unknown_customer_is_not_found(accounts):
    attempts = [
        lambda: accounts.get_customer("00000000-0000-0000-0000-000000000000"),
        lambda: accounts.get_customer("not\x00an id"),
        lambda: accounts.update_customer(UpdateCustomer("nobody", name="X")),
        lambda: accounts.deactivate_customer("nobody"),
        lambda: accounts.list_vehicles("nobody"),
        lambda: accounts.list_id_tokens("nobody"),
        lambda: accounts.link_vehicle(LinkVehicle("nobody", "AB123", VehicleKind.CAR, Fuel.EV)),
    ]
    for attempt in attempts:
        with pytest.raises(UnknownCustomer):
            await attempt()


async def test_search_matches_any_part_of_name_or_email_in_any_case_or_the_exact_id(
    accounts, clock
):
    found = []
    for name, email in [
        ("Ada Lovelace", "ada@example.org"),
        ("Grace Hopper", "grace@navy.example"),
        ("Ada 100%_sure", None),
    ]:
        found.append(await accounts.create_customer(CreateCustomer(name, email)))
        clock.advance(seconds=1)
    ada, grace, sure = found

    async def ids(query: str, **page) -> list[str]:
        return [
            c.id for c in (await accounts.search_customers(SearchCustomers(query, **page))).items
        ]

    assert await ids("ada") == [ada.id, sure.id]
    assert await ids("NAVY") == [grace.id]
    assert await ids(grace.id) == [grace.id]
    assert await ids("100%_") == [sure.id]  # LIKE wildcards are matched literally
    assert await ids("%") == [sure.id]
    assert await ids("") == [ada.id, grace.id, sure.id]
    assert await ids("", limit=2, offset=1) == [grace.id, sure.id]
    page = await accounts.search_customers(SearchCustomers("", limit=1, offset=0))
    assert (page.total, len(page.items)) == (3, 1)


@pytest.mark.parametrize(
    "search",
    [
        SearchCustomers(limit=0),
        SearchCustomers(limit=201),
        SearchCustomers(offset=-1),
        SearchCustomers("x" * 255),
        SearchCustomers("a\x00"),
    ],
)
async def test_a_bad_search_is_invalid(accounts, search):
    with pytest.raises(Invalid):
        await accounts.search_customers(search)


async def test_a_regnum_is_normalized_and_has_one_owner(accounts, db):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    linked = await accounts.link_vehicle(LinkVehicle(ada.id, "ab-123", VehicleKind.CAR, Fuel.EV))
    assert linked.created and linked.vehicle.regnum == "AB123"
    with pytest.raises(RegnumTaken):
        await accounts.link_vehicle(LinkVehicle(bob.id, "AB 123", VehicleKind.CAR, Fuel.EV))
    again = await accounts.link_vehicle(LinkVehicle(ada.id, "AB123", VehicleKind.VAN, Fuel.ICE))
    assert not again.created and (again.vehicle.kind, again.vehicle.fuel) == ("VAN", "ICE")
    await accounts.link_vehicle(LinkVehicle(ada.id, "AB123", VehicleKind.VAN, Fuel.ICE))
    assert await accounts.owner_of_vehicle("ab 123") == again.vehicle
    assert await accounts.list_vehicles(ada.id) == [again.vehicle]
    assert await accounts.list_vehicles(bob.id) == []
    linked_events = [e for e in await outbox_events(db) if e["event"] == "VehicleLinked"]
    assert [(e["kind"], e["fuel"]) for e in linked_events] == [("CAR", "EV"), ("VAN", "ICE")]


async def test_an_unlinked_vehicle_is_free_for_another_customer(accounts, db):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    await accounts.link_vehicle(LinkVehicle(ada.id, "AB123", VehicleKind.CAR, Fuel.EV))
    with pytest.raises(UnknownVehicle):
        await accounts.unlink_vehicle(UnlinkVehicle(bob.id, "AB123"))
    await accounts.unlink_vehicle(UnlinkVehicle(ada.id, "ab-123"))
    with pytest.raises(UnknownVehicle):
        await accounts.owner_of_vehicle("AB123")
    await accounts.link_vehicle(LinkVehicle(bob.id, "AB123", VehicleKind.CAR, Fuel.EV))
    assert (await accounts.owner_of_vehicle("AB123")).customer_id == bob.id
    assert await event_types(db) == [
        "CustomerCreated",
        "CustomerCreated",
        "VehicleLinked",
        "VehicleUnlinked",
        "VehicleLinked",
    ]


async def test_an_id_token_is_issued_once_and_looked_up_with_its_effective_status(
    accounts, clock, db
):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    expires = T0 + timedelta(days=30)
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
    assert await accounts.lookup_id_token("04A2B3C4") == issued
    clock.advance(days=30)
    expired = await accounts.lookup_id_token("04A2B3C4")
    assert expired.status is IdTokenStatus.EXPIRED
    assert [t.status for t in await accounts.list_id_tokens(ada.id)] == ["Expired"]
    [event] = [e for e in await outbox_events(db) if e["event"] == "IdTokenChanged"]
    assert event["expires_at"] == "2026-12-27T09:00:00Z" and event["status"] == "Accepted"


async def test_an_id_token_changes_status_and_expiry(accounts, clock, db):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    await accounts.issue_id_token(
        IssueIdToken(customer_id=ada.id, token="T1", type=IdTokenType.CENTRAL)
    )
    blocked = await accounts.update_id_token(UpdateIdToken(ada.id, "T1", IdTokenStatus.BLOCKED))
    assert blocked.status is IdTokenStatus.BLOCKED
    expiry = T0 + timedelta(hours=1)
    renewed = await accounts.update_id_token(
        UpdateIdToken(ada.id, "T1", IdTokenStatus.ACCEPTED, expires_at=expiry)
    )
    assert (renewed.status, renewed.expires_at) == ("Accepted", expiry)
    unchanged = await accounts.update_id_token(UpdateIdToken(ada.id, "T1"))
    assert unchanged == renewed
    forever = await accounts.update_id_token(UpdateIdToken(ada.id, "T1", expires_at=None))
    assert forever.expires_at is None
    events = [e for e in await outbox_events(db) if e["event"] == "IdTokenChanged"]
    assert [(e["status"], e["expires_at"]) for e in events] == [
        ("Accepted", None),
        ("Blocked", None),
        ("Accepted", "2026-11-27T10:00:00Z"),
        ("Accepted", None),
    ]


async def test_a_token_is_changed_only_through_its_own_customer(accounts):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    bob = await accounts.create_customer(CreateCustomer("Bob"))
    await accounts.issue_id_token(
        IssueIdToken(customer_id=ada.id, token="T1", type=IdTokenType.CENTRAL)
    )
    for missing in [
        UpdateIdToken(bob.id, "T1", IdTokenStatus.BLOCKED),
        UpdateIdToken(ada.id, "T2"),
    ]:
        with pytest.raises(UnknownIdToken):
            await accounts.update_id_token(missing)
    with pytest.raises(UnknownIdToken):
        await accounts.lookup_id_token("no\x00such")


async def test_deactivating_blocks_the_tokens_keeps_the_vehicles_and_refuses_new_ones(
    accounts, clock, db
):
    ada = await accounts.create_customer(CreateCustomer("Ada", "ada@example.org"))
    await accounts.link_vehicle(LinkVehicle(ada.id, "AB123", VehicleKind.CAR, Fuel.EV))
    for token in ["T1", "T2"]:
        await accounts.issue_id_token(
            IssueIdToken(customer_id=ada.id, token=token, type=IdTokenType.CENTRAL)
        )
    clock.advance(minutes=5)
    deactivated = await accounts.deactivate_customer(ada.id)
    assert deactivated.status is CustomerStatus.DEACTIVATED
    assert await accounts.deactivate_customer(ada.id) == deactivated  # again: nothing new
    assert [t.status for t in await accounts.list_id_tokens(ada.id)] == ["Blocked", "Blocked"]
    assert (await accounts.lookup_id_token("T1")).customer_status is CustomerStatus.DEACTIVATED
    assert [v.regnum for v in await accounts.list_vehicles(ada.id)] == ["AB123"]
    with pytest.raises(CustomerDeactivated):
        await accounts.link_vehicle(LinkVehicle(ada.id, "CD456", VehicleKind.CAR, Fuel.EV))
    with pytest.raises(CustomerDeactivated):
        await accounts.issue_id_token(
            IssueIdToken(customer_id=ada.id, token="T3", type=IdTokenType.CENTRAL)
        )
    with pytest.raises(CustomerDeactivated):
        await accounts.update_id_token(UpdateIdToken(ada.id, "T1", IdTokenStatus.ACCEPTED))
    events = await outbox_events(db)
    assert [(e["event"], e["id_token"], e["status"]) for e in events[-2:]] == [
        ("IdTokenChanged", "T1", "Blocked"),
        ("IdTokenChanged", "T2", "Blocked"),
    ]
    assert len(events) == 6


async def test_a_failed_use_case_leaves_no_state_and_no_event(accounts, db):
    ada = await accounts.create_customer(CreateCustomer("Ada"))
    with pytest.raises(Invalid):
        await accounts.link_vehicle(LinkVehicle(ada.id, "AB_123", VehicleKind.CAR, Fuel.EV))
    with pytest.raises(Invalid):
        await accounts.issue_id_token(
            IssueIdToken(customer_id=ada.id, token="bad token", type=IdTokenType.CENTRAL)
        )
    assert await accounts.list_vehicles(ada.id) == []
    assert await event_types(db) == ["CustomerCreated"]
