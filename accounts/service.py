"""Use cases of the accounts service: one method each, one unit of work each.

Every state change and the events it emits commit together. Passwords are hashed before the
transaction opens, so a slow hash never holds a database lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from accounts.domain import (
    Customer,
    CustomerStatus,
    EmailTaken,
    Fuel,
    IdToken,
    IdTokenStatus,
    IdTokenTaken,
    IdTokenType,
    Vehicle,
    VehicleKind,
    check_text,
    normalize_regnum,
)
from accounts.ports import AccountsUnitOfWork
from chargepark.clock import Clock
from chargepark.errors import Invalid
from chargepark.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password

MAX_PAGE = 200
MAX_QUERY_LENGTH = 254
MAX_OFFSET = 2**31 - 1


class Unset(Enum):
    """A field a command leaves as it is (as opposed to setting it to None)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class CreateCustomer:
    name: str
    email: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class UpdateCustomer:
    customer_id: str
    name: str | None = None
    email: str | Unset | None = UNSET
    password: str | None = None


@dataclass(frozen=True)
class SearchCustomers:
    query: str = ""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class LinkVehicle:
    customer_id: str
    regnum: str
    kind: VehicleKind
    fuel: Fuel


@dataclass(frozen=True)
class UnlinkVehicle:
    customer_id: str
    regnum: str


@dataclass(frozen=True, kw_only=True)
class IssueIdToken:
    customer_id: str
    token: str
    type: IdTokenType
    status: IdTokenStatus = IdTokenStatus.ACCEPTED
    expires_at: datetime | None = None


@dataclass(frozen=True)
class UpdateIdToken:
    customer_id: str
    token: str
    status: IdTokenStatus | None = None
    expires_at: datetime | Unset | None = UNSET


@dataclass(frozen=True)
class CustomerPage:
    items: list[Customer]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Linked:
    vehicle: Vehicle
    created: bool  # False: the customer already had it (kind and fuel updated)


@dataclass(frozen=True)
class IdTokenInfo:
    """An id token as a charger should treat it now."""

    id_token: str
    type: IdTokenType
    status: IdTokenStatus  # Expired past expires_at; Blocked for a deactivated customer
    expires_at: datetime | None
    customer_id: str
    customer_status: CustomerStatus

    @classmethod
    def of(cls, token: IdToken, customer: Customer, now: datetime) -> IdTokenInfo:
        status = customer.id_token_status(token, now)
        return cls(token.token, token.type, status, token.expires_at, customer.id, customer.status)


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        raise Invalid("password is not valid text") from None


def _new_id() -> str:
    return str(uuid.uuid4())


class AccountsService:
    """Customers, their vehicles and their id tokens."""

    def __init__(
        self,
        uow: Callable[[], AccountsUnitOfWork],
        clock: Clock,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.new_id = new_id

    async def create_customer(self, cmd: CreateCustomer) -> Customer:
        customer, created = Customer.register(self.new_id(), cmd.name, cmd.email, self.clock.now())
        password_hash = await self._hash(cmd.password)
        async with self.uow() as uow:
            if customer.email is not None and await uow.customers.email_taken(customer.email):
                raise EmailTaken()
            await uow.customers.add(customer, password_hash)
            uow.emit(created)
            await uow.commit()
        return customer

    async def get_customer(self, customer_id: str) -> Customer:
        async with self.uow() as uow:
            return await uow.customers.get(customer_id)

    async def search_customers(self, cmd: SearchCustomers) -> CustomerPage:
        if not 1 <= cmd.limit <= MAX_PAGE:
            raise Invalid(f"limit must be 1 to {MAX_PAGE}")
        if not 0 <= cmd.offset <= MAX_OFFSET:
            raise Invalid(f"offset must be 0 to {MAX_OFFSET}")
        if len(cmd.query) > MAX_QUERY_LENGTH:
            raise Invalid(f"query must be at most {MAX_QUERY_LENGTH} characters")
        check_text(cmd.query, "query")
        async with self.uow() as uow:
            items, total = await uow.customers.search(cmd.query.strip(), cmd.limit, cmd.offset)
        return CustomerPage(items, total, cmd.limit, cmd.offset)

    async def update_customer(self, cmd: UpdateCustomer) -> Customer:
        password_hash = await self._hash(cmd.password)
        async with self.uow() as uow:
            customer = await uow.customers.get(cmd.customer_id, for_update=True)
            at = self.clock.now()
            if cmd.name is not None:
                customer.rename(cmd.name, at)
            if cmd.email is not UNSET:
                customer.change_email(cmd.email, at)
                if customer.email is not None and await uow.customers.email_taken(
                    customer.email, besides=customer.id
                ):
                    raise EmailTaken()
            if password_hash is not None:
                customer.updated_at = at
                await uow.customers.set_password(customer.id, password_hash)
            await uow.customers.save(customer)
            await uow.commit()
        return customer

    async def deactivate_customer(self, customer_id: str) -> Customer:
        async with self.uow() as uow:
            customer = await uow.customers.get(customer_id, for_update=True)
            tokens = {t.token: t for t in await uow.id_tokens.of_customer(customer.id)}
            for event in customer.deactivate(list(tokens.values()), self.clock.now()):
                await uow.id_tokens.save(tokens[event.id_token])
                uow.emit(event)
            await uow.customers.save(customer)
            await uow.commit()
        return customer

    async def link_vehicle(self, cmd: LinkVehicle) -> Linked:
        regnum = normalize_regnum(cmd.regnum)
        async with self.uow() as uow:
            customer = await uow.customers.get(cmd.customer_id, for_update=True)
            current = await uow.vehicles.find(regnum)
            vehicle, event = customer.link_vehicle(
                current, regnum, cmd.kind, cmd.fuel, self.clock.now()
            )
            if current is None:
                await uow.vehicles.add(vehicle)
            elif event is not None:
                await uow.vehicles.save(vehicle)
            if event is not None:
                uow.emit(event)
            await uow.commit()
        return Linked(vehicle, created=current is None)

    async def list_vehicles(self, customer_id: str) -> list[Vehicle]:
        async with self.uow() as uow:
            customer = await uow.customers.get(customer_id)
            return await uow.vehicles.of_customer(customer.id)

    async def unlink_vehicle(self, cmd: UnlinkVehicle) -> None:
        regnum = normalize_regnum(cmd.regnum)
        async with self.uow() as uow:
            customer = await uow.customers.get(cmd.customer_id, for_update=True)
            vehicle = await uow.vehicles.get(regnum)
            uow.emit(customer.unlink_vehicle(vehicle, self.clock.now()))
            await uow.vehicles.remove(vehicle)
            await uow.commit()

    async def owner_of_vehicle(self, regnum: str) -> Vehicle:
        async with self.uow() as uow:
            return await uow.vehicles.get(normalize_regnum(regnum))

    async def issue_id_token(self, cmd: IssueIdToken) -> IdTokenInfo:
        async with self.uow() as uow:
            customer = await uow.customers.get(cmd.customer_id, for_update=True)
            at = self.clock.now()
            token, event = customer.issue_id_token(
                cmd.token, cmd.type, cmd.status, cmd.expires_at, at
            )
            if await uow.id_tokens.find(token.token) is not None:
                raise IdTokenTaken(token.token)
            await uow.id_tokens.add(token)
            uow.emit(event)
            await uow.commit()
        return IdTokenInfo.of(token, customer, at)

    async def update_id_token(self, cmd: UpdateIdToken) -> IdTokenInfo:
        async with self.uow() as uow:
            customer = await uow.customers.get(cmd.customer_id, for_update=True)
            token = await uow.id_tokens.get(cmd.token)
            at = self.clock.now()
            event = customer.change_id_token(
                token,
                token.status if cmd.status is None else cmd.status,
                token.expires_at if cmd.expires_at is UNSET else cmd.expires_at,
                at,
            )
            if event is not None:
                await uow.id_tokens.save(token)
                uow.emit(event)
                await uow.commit()
        return IdTokenInfo.of(token, customer, at)

    async def list_id_tokens(self, customer_id: str) -> list[IdTokenInfo]:
        async with self.uow() as uow:
            customer = await uow.customers.get(customer_id)
            tokens = await uow.id_tokens.of_customer(customer.id)
        now = self.clock.now()
        return [IdTokenInfo.of(token, customer, now) for token in tokens]

    async def lookup_id_token(self, token: str) -> IdTokenInfo:
        """What csms asks when a charger presents a token (OCPP Authorize)."""
        async with self.uow() as uow:
            id_token = await uow.id_tokens.get(token)
            customer = await uow.customers.get(id_token.customer_id)
        return IdTokenInfo.of(id_token, customer, self.clock.now())

    async def _hash(self, password: str | None) -> str | None:
        if password is None:
            return None
        check_password(password)
        return await hash_password(password)
