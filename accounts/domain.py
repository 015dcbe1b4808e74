"""Customers, their vehicles and their id tokens: the rules, with no I/O.

Time and ids are passed in; every state change returns the event that says what happened.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chargepark.errors import Conflict, Invalid, NotFound
from chargepark.events.envelope import DomainEvent

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_ID_TOKEN_LENGTH = 64

_REGNUM = re.compile(r"[A-Z0-9]{1,16}")
# What normalize_regnum accepts, for request schemas: 1 to 16 letters and digits, with spaces
# and dashes anywhere (they are dropped).
REGNUM_PATTERN = r"^[ -]*(?:[A-Za-z0-9][ -]*){1,16}$"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
# OCPP 2.0.1's identifierString characters: RFID UIDs, eMAIDs and app tokens all fit, and each
# is safe as a URL path segment.
_ID_TOKEN_CHARS = rf"[A-Za-z0-9*\-_=:+|@.]{{1,{MAX_ID_TOKEN_LENGTH}}}"
ID_TOKEN = re.compile(_ID_TOKEN_CHARS)
ID_TOKEN_PATTERN = f"^{_ID_TOKEN_CHARS}$"  # the same rule for request schemas


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class VehicleKind(StrEnum):
    CAR = "CAR"
    MOTORCYCLE = "MOTORCYCLE"
    VAN = "VAN"


class Fuel(StrEnum):
    EV = "EV"
    ICE = "ICE"


class IdTokenType(StrEnum):
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    CENTRAL = "Central"
    EMAID = "eMAID"


class IdTokenStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"


class UnknownCustomer(NotFound):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")


class UnknownVehicle(NotFound):
    def __init__(self, regnum: str) -> None:
        super().__init__(f"no vehicle {regnum!r}")


class UnknownIdToken(NotFound):
    def __init__(self, token: str) -> None:
        super().__init__(f"no id token {token!r}")


class RegnumTaken(Conflict):
    def __init__(self, regnum: str) -> None:
        super().__init__(f"vehicle {regnum} is linked to another customer")


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("this email address belongs to another customer")


class IdTokenTaken(Conflict):
    def __init__(self, token: str) -> None:
        super().__init__(f"id token {token!r} is already issued")


class CustomerDeactivated(Conflict):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} is deactivated")


@dataclass(frozen=True)
class CustomerCreated(DomainEvent):
    name = "CustomerCreated"
    customer_id: str
    ts: datetime


@dataclass(frozen=True, kw_only=True)
class VehicleLinked(DomainEvent):
    name = "VehicleLinked"
    customer_id: str
    regnum: str
    kind: VehicleKind
    fuel: Fuel
    ts: datetime


@dataclass(frozen=True)
class VehicleUnlinked(DomainEvent):
    name = "VehicleUnlinked"
    customer_id: str
    regnum: str
    ts: datetime


@dataclass(frozen=True, kw_only=True)
class IdTokenChanged(DomainEvent):
    name = "IdTokenChanged"
    customer_id: str
    id_token: str
    type: IdTokenType
    status: IdTokenStatus
    expires_at: datetime | None
    ts: datetime


def normalize_regnum(raw: str) -> str:
    """`ab-123 c` -> `AB123C`: one spelling per plate, so one owner per plate."""
    regnum = raw.replace(" ", "").replace("-", "")
    if not regnum.isascii() or not _REGNUM.fullmatch(regnum.upper()):
        raise Invalid(f"{raw!r} is not a registration number (1 to 16 letters A-Z and digits)")
    return regnum.upper()


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise Invalid("email is not an email address")
    return email


def normalize_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    check_text(name, "name")
    return name


def check_text(value: str, what: str) -> None:
    """Control characters and lone surrogates have no place in a name or a search, and the
    database drivers refuse some of them (a NUL byte) with a driver error."""
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise Invalid(f"{what} contains control characters")


def check_id_token(token: str) -> str:
    if not ID_TOKEN.fullmatch(token):
        raise Invalid("id_token must be 1 to 64 of A-Z a-z 0-9 * - _ = : + | @ .")
    return token


@dataclass
class IdToken:
    token: str
    customer_id: str
    type: IdTokenType
    status: IdTokenStatus
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def effective_status(self, now: datetime) -> IdTokenStatus:
        if self.expires_at is not None and now >= self.expires_at:
            return IdTokenStatus.EXPIRED
        return self.status

    def change(
        self, status: IdTokenStatus, expires_at: datetime | None, at: datetime
    ) -> IdTokenChanged | None:
        if (status, expires_at) == (self.status, self.expires_at):
            return None
        self.status, self.expires_at, self.updated_at = status, expires_at, at
        return self.changed(at)

    def changed(self, at: datetime) -> IdTokenChanged:
        return IdTokenChanged(
            customer_id=self.customer_id,
            id_token=self.token,
            type=self.type,
            status=self.effective_status(at),
            expires_at=self.expires_at,
            ts=at,
        )


@dataclass
class Vehicle:
    regnum: str
    customer_id: str
    kind: VehicleKind
    fuel: Fuel
    linked_at: datetime

    def linked(self, at: datetime) -> VehicleLinked:
        return VehicleLinked(
            customer_id=self.customer_id, regnum=self.regnum, kind=self.kind, fuel=self.fuel, ts=at
        )


@dataclass
class Customer:
    id: str
    name: str
    email: str | None
    status: CustomerStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def register(
        cls, customer_id: str, name: str, email: str | None, at: datetime
    ) -> tuple[Customer, CustomerCreated]:
        customer = cls(
            id=customer_id,
            name=normalize_name(name),
            email=None if email is None else normalize_email(email),
            status=CustomerStatus.ACTIVE,
            created_at=at,
            updated_at=at,
        )
        return customer, CustomerCreated(customer_id=customer_id, ts=at)

    @property
    def active(self) -> bool:
        return self.status is CustomerStatus.ACTIVE

    def ensure_active(self) -> None:
        if not self.active:
            raise CustomerDeactivated(self.id)

    def rename(self, name: str, at: datetime) -> None:
        self.name, self.updated_at = normalize_name(name), at

    def change_email(self, email: str | None, at: datetime) -> None:
        self.email = None if email is None else normalize_email(email)
        self.updated_at = at

    def deactivate(self, tokens: list[IdToken], at: datetime) -> list[IdTokenChanged]:
        """Blocks every id token so chargers refuse them; vehicles stay linked (a parked car
        still has an owner to invoice)."""
        if not self.active:
            return []
        self.status, self.updated_at = CustomerStatus.DEACTIVATED, at
        changes = (t.change(IdTokenStatus.BLOCKED, t.expires_at, at) for t in tokens)
        return [event for event in changes if event is not None]

    def link_vehicle(
        self, current: Vehicle | None, regnum: str, kind: VehicleKind, fuel: Fuel, at: datetime
    ) -> tuple[Vehicle, VehicleLinked | None]:
        """`current` is whoever holds `regnum` now. Linking again to the same customer only
        updates kind and fuel (no event when nothing changed)."""
        self.ensure_active()
        if current is None:
            vehicle = Vehicle(normalize_regnum(regnum), self.id, kind, fuel, linked_at=at)
            return vehicle, vehicle.linked(at)
        if current.customer_id != self.id:
            raise RegnumTaken(current.regnum)
        if (current.kind, current.fuel) == (kind, fuel):
            return current, None
        current.kind, current.fuel = kind, fuel
        return current, current.linked(at)

    def unlink_vehicle(self, vehicle: Vehicle, at: datetime) -> VehicleUnlinked:
        if vehicle.customer_id != self.id:
            raise UnknownVehicle(vehicle.regnum)
        return VehicleUnlinked(customer_id=self.id, regnum=vehicle.regnum, ts=at)

    def issue_id_token(
        self,
        token: str,
        type: IdTokenType,
        status: IdTokenStatus,
        expires_at: datetime | None,
        at: datetime,
    ) -> tuple[IdToken, IdTokenChanged]:
        self.ensure_active()
        id_token = IdToken(check_id_token(token), self.id, type, status, expires_at, at, at)
        return id_token, id_token.changed(at)

    def id_token_status(self, id_token: IdToken, now: datetime) -> IdTokenStatus:
        """What a charger is told: a deactivated customer's tokens are Blocked, whatever a
        token row says (even one changed in a race with the deactivation)."""
        return id_token.effective_status(now) if self.active else IdTokenStatus.BLOCKED

    def change_id_token(
        self, id_token: IdToken, status: IdTokenStatus, expires_at: datetime | None, at: datetime
    ) -> IdTokenChanged | None:
        if id_token.customer_id != self.id:
            raise UnknownIdToken(id_token.token)
        if not self.active and status is not IdTokenStatus.BLOCKED:
            raise CustomerDeactivated(self.id)  # its tokens stay blocked
        return id_token.change(status, expires_at, at)
