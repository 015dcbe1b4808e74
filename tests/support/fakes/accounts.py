"""In-memory doubles of accounts' ports (accounts/ports.py), with the SQL adapters' semantics:
a unit of work sees its own changes and only commit() makes them (and its events) visible; the
issuer's records apply each call at once, as each SQL call is its own transaction."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Self

from accounts.domain import (
    ID_TOKEN,
    Customer,
    EmailTaken,
    IdToken,
    IdTokenTaken,
    RegnumTaken,
    UnknownCustomer,
    UnknownIdToken,
    UnknownVehicle,
    Vehicle,
)
from accounts.ports import (
    ALREADY_USED,
    ClientRecord,
    KeyRecord,
    LockPolicy,
    Login,
    Redeemed,
    RefreshRecord,
    refresh_refusal,
)
from chargepark.errors import Conflict
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event


@dataclass
class State:
    customers: dict[str, Customer] = field(default_factory=dict)
    passwords: dict[str, str | None] = field(default_factory=dict)  # customer id -> hash
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    id_tokens: dict[str, IdToken] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)


class FakeCustomers:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, customer_id: str, *, for_update: bool = False) -> Customer:
        if customer_id not in self.state.customers:
            raise UnknownCustomer(customer_id)
        return copy.deepcopy(self.state.customers[customer_id])

    async def email_taken(self, email: str, *, besides: str | None = None) -> bool:
        return any(c.email == email and c.id != besides for c in self.state.customers.values())

    async def add(self, customer: Customer, password_hash: str | None) -> None:
        if customer.email is not None and await self.email_taken(customer.email):
            raise EmailTaken()
        self.state.customers[customer.id] = copy.deepcopy(customer)
        self.state.passwords[customer.id] = password_hash

    async def save(self, customer: Customer) -> None:
        if customer.email is not None and await self.email_taken(
            customer.email, besides=customer.id
        ):
            raise EmailTaken()
        self.state.customers[customer.id] = copy.deepcopy(customer)

    async def set_password(self, customer_id: str, password_hash: str) -> None:
        self.state.passwords[customer_id] = password_hash

    async def search(self, query: str, limit: int, offset: int) -> tuple[list[Customer], int]:
        needle = query.lower()
        found = sorted(
            (
                c
                for c in self.state.customers.values()
                if not query
                or needle in c.name.lower()
                or (c.email is not None and needle in c.email)
                or c.id == query
            ),
            key=lambda c: (c.created_at, c.id),
        )
        return copy.deepcopy(found[offset : offset + limit]), len(found)


class FakeVehicles:
    def __init__(self, state: State) -> None:
        self.state = state

    async def find(self, regnum: str) -> Vehicle | None:
        return copy.deepcopy(self.state.vehicles.get(regnum))

    async def get(self, regnum: str) -> Vehicle:
        vehicle = await self.find(regnum)
        if vehicle is None:
            raise UnknownVehicle(regnum)
        return vehicle

    async def of_customer(self, customer_id: str) -> list[Vehicle]:
        mine = [v for v in self.state.vehicles.values() if v.customer_id == customer_id]
        return copy.deepcopy(sorted(mine, key=lambda v: (v.linked_at, v.regnum)))

    async def add(self, vehicle: Vehicle) -> None:
        if vehicle.regnum in self.state.vehicles:
            raise RegnumTaken(vehicle.regnum)
        self.state.vehicles[vehicle.regnum] = copy.deepcopy(vehicle)

    async def save(self, vehicle: Vehicle) -> None:
        kept = self.state.vehicles[vehicle.regnum]
        kept.kind, kept.fuel = vehicle.kind, vehicle.fuel  # all the SQL update writes

    async def remove(self, vehicle: Vehicle) -> None:
        self.state.vehicles.pop(vehicle.regnum, None)


class FakeIdTokens:
    def __init__(self, state: State) -> None:
        self.state = state

    async def find(self, token: str) -> IdToken | None:
        if not ID_TOKEN.fullmatch(token):
            return None
        return copy.deepcopy(self.state.id_tokens.get(token))

    async def get(self, token: str) -> IdToken:
        id_token = await self.find(token)
        if id_token is None:
            raise UnknownIdToken(token)
        return id_token

    async def of_customer(self, customer_id: str) -> list[IdToken]:
        mine = [t for t in self.state.id_tokens.values() if t.customer_id == customer_id]
        return copy.deepcopy(sorted(mine, key=lambda t: (t.created_at, t.token)))

    async def add(self, id_token: IdToken) -> None:
        if id_token.token in self.state.id_tokens:
            raise IdTokenTaken(id_token.token)
        self.state.id_tokens[id_token.token] = copy.deepcopy(id_token)

    async def save(self, id_token: IdToken) -> None:
        kept = self.state.id_tokens[id_token.token]
        saved = copy.deepcopy(id_token)
        saved.created_at = kept.created_at  # never rewritten
        self.state.id_tokens[id_token.token] = saved


class FakeAccountsUnitOfWork:
    """Shares `committed` between units of work, like a database."""

    def __init__(self, committed: State) -> None:
        self.committed = committed

    async def __aenter__(self) -> Self:
        self.working = copy.deepcopy(self.committed)
        self.customers = FakeCustomers(self.working)
        self.vehicles = FakeVehicles(self.working)
        self.id_tokens = FakeIdTokens(self.working)
        self.events: list[dict[str, Any]] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def emit(self, event: Any) -> dict[str, Any]:
        doc = envelope_of(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        self.working.outbox.extend(self.events)
        self.events = []
        self.committed.__dict__.update(copy.deepcopy(self.working).__dict__)


def fake_accounts() -> tuple[State, Callable[[], FakeAccountsUnitOfWork]]:
    state = State()
    return state, lambda: FakeAccountsUnitOfWork(state)


# --- the issuer's records -------------------------------------------------------------------


class FakeCustomerLogins:
    """Reads the customers of a State (those a FakeAccountsUnitOfWork committed)."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def by_email(self, email: str) -> Login | None:
        for c in self.state.customers.values():
            if c.email == email:
                return Login(c.id, self.state.passwords.get(c.id), c.active)
        return None

    async def is_active(self, customer_id: str) -> bool:
        customer = self.state.customers.get(customer_id)
        return customer is not None and customer.active


class FakeClientRecords:
    def __init__(self) -> None:
        self.records: dict[str, ClientRecord] = {}

    async def find(self, client_id: str) -> ClientRecord | None:
        return self.records.get(client_id)

    async def add(self, record: ClientRecord) -> None:
        if record.client_id in self.records:
            raise Conflict(f"client {record.client_id!r} exists")
        self.records[record.client_id] = record

    async def reset(self, client_id: str, secret_hash: str, scopes: frozenset[str]) -> None:
        if client_id in self.records:
            self.records[client_id] = replace(
                self.records[client_id], secret_hash=secret_hash, scopes=scopes, revoked_at=None
            )

    async def all(self) -> list[ClientRecord]:
        return sorted(self.records.values(), key=lambda r: r.created_at)

    async def revoke(self, client_id: str, at: datetime) -> bool:
        record = self.records.get(client_id)
        if record is None or record.revoked_at is not None:
            return False
        self.records[client_id] = replace(record, revoked_at=at)
        return True


class FakeKeyRecords:
    def __init__(self) -> None:
        self.records: list[KeyRecord] = []  # in the order added

    async def signing(self) -> KeyRecord | None:
        active = [r for r in self.records if r.retired_at is None]
        return max(active, key=lambda r: r.created_at) if active else None

    async def add(self, record: KeyRecord) -> None:
        self.records.append(record)

    async def rotate(self, new: KeyRecord, expires_at: datetime) -> None:
        self.records = [
            r
            if r.retired_at is not None
            else replace(r, retired_at=new.created_at, expires_at=expires_at)
            for r in self.records
        ]
        self.records.append(new)

    async def published(self, now: datetime) -> list[str]:
        live = [r for r in self.records if r.expires_at is None or r.expires_at > now]
        return [r.public_jwk for r in sorted(live, key=lambda r: r.created_at, reverse=True)]

    async def all(self) -> list[KeyRecord]:
        return sorted(self.records, key=lambda r: r.created_at)


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.records: dict[str, RefreshRecord] = {}

    async def add(self, record: RefreshRecord) -> None:
        self.records[record.token_hash] = record

    async def redeem(self, token_hash: str, client_id: str | None, now: datetime) -> Redeemed:
        record = self.records.get(token_hash)
        refusal = refresh_refusal(record, client_id, now)
        if record is not None and refusal == ALREADY_USED:
            for key, other in self.records.items():
                if other.subject == record.subject and other.used_at is None:
                    self.records[key] = replace(other, used_at=now)
        elif record is not None and refusal is None:
            self.records[token_hash] = replace(record, used_at=now)
        return Redeemed(record, refusal)


class FakeFailureCounts:
    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, datetime | None]] = {}  # key -> (failures, lock)

    async def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        locks = [
            until
            for key in keys
            if key in self.counts
            for until in [self.counts[key][1]]
            if until is not None and until > now
        ]
        return max(locks) if locks else None

    async def add_failure(self, keys: Sequence[str], now: datetime, lock: LockPolicy) -> None:
        for key in keys:
            failures = self.counts.get(key, (0, None))[0] + 1
            self.counts[key] = (failures, lock(key, failures, now))

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.counts.pop(key, None)
