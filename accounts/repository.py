"""SQL repositories for customers, vehicles and id tokens, and the unit of work that holds them.

Uniqueness (email, regnum, id token) is checked by the service with a read before the write;
the constraint still decides when two transactions race, and its IntegrityError becomes the
same Conflict the read would have raised.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.domain import (
    ID_TOKEN,
    Customer,
    CustomerStatus,
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
from accounts.store import customers, id_tokens, vehicles
from chargepark.clock import as_utc
from chargepark.db.uow import UnitOfWork

# Ids are uuid4 strings; anything else cannot exist, and is not worth a query (nor a NUL byte
# that PostgreSQL would refuse with a driver error).
_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_CUSTOMER_COLUMNS = [c for c in customers.c if c.name != "password_hash"]


class SqlCustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: str, *, for_update: bool = False) -> Customer:
        """`for_update` locks the row (PostgreSQL), so changes to one customer queue up."""
        if not _PLAUSIBLE_ID.fullmatch(customer_id):
            raise UnknownCustomer(customer_id)
        query = select(*_CUSTOMER_COLUMNS).where(customers.c.id == customer_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            raise UnknownCustomer(customer_id)
        return _customer(row)

    async def email_taken(self, email: str, *, besides: str | None = None) -> bool:
        query = select(customers.c.id).where(customers.c.email == email)
        if besides is not None:
            query = query.where(customers.c.id != besides)
        return (await self.session.execute(query.limit(1))).first() is not None

    async def add(self, customer: Customer, password_hash: str | None) -> None:
        values = {**_customer_values(customer), "password_hash": password_hash}
        await self._write(insert(customers).values(values))

    async def save(self, customer: Customer) -> None:
        query = update(customers).where(customers.c.id == customer.id)
        await self._write(query.values(_customer_values(customer)))

    async def set_password(self, customer_id: str, password_hash: str) -> None:
        query = update(customers).where(customers.c.id == customer_id)
        await self.session.execute(query.values(password_hash=password_hash))

    async def search(self, query: str, limit: int, offset: int) -> tuple[list[Customer], int]:
        """Customers whose name or email contains `query` (any case), or whose id is `query`;
        oldest first. Returns one page and the number of matches."""
        where = []
        if query:
            needle = query.lower()
            where.append(
                or_(
                    func.lower(customers.c.name).contains(needle, autoescape=True),
                    customers.c.email.contains(needle, autoescape=True),  # stored lower-cased
                    customers.c.id == query,
                )
            )
        page = (
            select(*_CUSTOMER_COLUMNS)
            .where(*where)
            .order_by(customers.c.created_at, customers.c.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(page)).all()
        count = select(func.count()).select_from(customers).where(*where)
        total = (await self.session.execute(count)).scalar_one()
        return [_customer(row) for row in rows], total

    async def _write(self, statement: Any) -> None:
        try:
            await self.session.execute(statement)
        except IntegrityError as exc:  # email is the one unique column a write can collide on
            raise EmailTaken() from exc


class SqlVehicleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, regnum: str) -> Vehicle | None:
        row = (
            await self.session.execute(select(vehicles).where(vehicles.c.regnum == regnum))
        ).first()
        return None if row is None else _vehicle(row)

    async def get(self, regnum: str) -> Vehicle:
        vehicle = await self.find(regnum)
        if vehicle is None:
            raise UnknownVehicle(regnum)
        return vehicle

    async def of_customer(self, customer_id: str) -> list[Vehicle]:
        query = select(vehicles).where(vehicles.c.customer_id == customer_id)
        rows = await self.session.execute(query.order_by(vehicles.c.linked_at, vehicles.c.regnum))
        return [_vehicle(row) for row in rows]

    async def add(self, vehicle: Vehicle) -> None:
        try:
            await self.session.execute(insert(vehicles).values(_vehicle_values(vehicle)))
        except IntegrityError as exc:
            raise RegnumTaken(vehicle.regnum) from exc

    async def save(self, vehicle: Vehicle) -> None:
        query = update(vehicles).where(vehicles.c.regnum == vehicle.regnum)
        await self.session.execute(query.values(kind=vehicle.kind.value, fuel=vehicle.fuel.value))

    async def remove(self, vehicle: Vehicle) -> None:
        await self.session.execute(delete(vehicles).where(vehicles.c.regnum == vehicle.regnum))


class SqlIdTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, token: str) -> IdToken | None:
        if not ID_TOKEN.fullmatch(token):
            return None  # cannot have been issued
        query = select(id_tokens).where(id_tokens.c.token == token)
        row = (await self.session.execute(query)).first()
        return None if row is None else _id_token(row)

    async def get(self, token: str) -> IdToken:
        id_token = await self.find(token)
        if id_token is None:
            raise UnknownIdToken(token)
        return id_token

    async def of_customer(self, customer_id: str) -> list[IdToken]:
        query = select(id_tokens).where(id_tokens.c.customer_id == customer_id)
        rows = await self.session.execute(query.order_by(id_tokens.c.created_at, id_tokens.c.token))
        return [_id_token(row) for row in rows]

    async def add(self, id_token: IdToken) -> None:
        try:
            await self.session.execute(insert(id_tokens).values(_id_token_values(id_token)))
        except IntegrityError as exc:
            raise IdTokenTaken(id_token.token) from exc

    async def save(self, id_token: IdToken) -> None:
        query = update(id_tokens).where(id_tokens.c.token == id_token.token)
        values = _id_token_values(id_token)
        del values["token"], values["created_at"]
        await self.session.execute(query.values(values))


class SqlAccountsUnitOfWork(UnitOfWork):
    """The kernel's unit of work with the accounts repositories on its session."""

    customers: SqlCustomerRepository
    vehicles: SqlVehicleRepository
    id_tokens: SqlIdTokenRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.customers = SqlCustomerRepository(self.session)
        self.vehicles = SqlVehicleRepository(self.session)
        self.id_tokens = SqlIdTokenRepository(self.session)
        return self


def _utc_or_none(ts: datetime | None) -> datetime | None:
    return None if ts is None else as_utc(ts)


def _customer(row: Row[Any]) -> Customer:
    return Customer(
        id=row.id,
        name=row.name,
        email=row.email,
        status=CustomerStatus(row.status),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _customer_values(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "status": customer.status.value,
        "created_at": as_utc(customer.created_at),
        "updated_at": as_utc(customer.updated_at),
    }


def _vehicle(row: Row[Any]) -> Vehicle:
    return Vehicle(
        regnum=row.regnum,
        customer_id=row.customer_id,
        kind=VehicleKind(row.kind),
        fuel=Fuel(row.fuel),
        linked_at=as_utc(row.linked_at),
    )


def _vehicle_values(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "regnum": vehicle.regnum,
        "customer_id": vehicle.customer_id,
        "kind": vehicle.kind.value,
        "fuel": vehicle.fuel.value,
        "linked_at": as_utc(vehicle.linked_at),
    }


def _id_token(row: Row[Any]) -> IdToken:
    return IdToken(
        token=row.token,
        customer_id=row.customer_id,
        type=IdTokenType(row.type),
        status=IdTokenStatus(row.status),
        expires_at=_utc_or_none(row.expires_at),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _id_token_values(id_token: IdToken) -> dict[str, Any]:
    return {
        "token": id_token.token,
        "customer_id": id_token.customer_id,
        "type": id_token.type.value,
        "status": id_token.status.value,
        "expires_at": _utc_or_none(id_token.expires_at),
        "created_at": as_utc(id_token.created_at),
        "updated_at": as_utc(id_token.updated_at),
    }
