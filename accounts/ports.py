"""What the accounts use cases need from the outside world, declared in one place.

The customer use cases (accounts/service.py) run in a unit of work over three repositories;
the issuer's use cases (accounts/identity/) each read or write one kind of record, one
statement or transaction at a time. The SQL adapters (accounts/repository.py and
accounts/adapters/) implement these; so do the in-memory fakes the unit tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from accounts.domain import Customer, IdToken, Vehicle
from chargepark.ports import Transaction

# --- customers, vehicles and id tokens: one unit of work per use case ----------------------


class CustomerRepository(Protocol):
    async def get(self, customer_id: str, *, for_update: bool = False) -> Customer:
        """Raises UnknownCustomer. `for_update` locks it: changes to one customer queue up."""

    async def email_taken(self, email: str, *, besides: str | None = None) -> bool: ...

    async def add(self, customer: Customer, password_hash: str | None) -> None:
        """Raises EmailTaken when a concurrent create took the email first."""

    async def save(self, customer: Customer) -> None: ...

    async def set_password(self, customer_id: str, password_hash: str) -> None: ...

    async def search(self, query: str, limit: int, offset: int) -> tuple[list[Customer], int]:
        """Customers whose name or email contains `query` (any case), or whose id is `query`;
        oldest first. Returns one page and the number of matches."""


class VehicleRepository(Protocol):
    async def find(self, regnum: str) -> Vehicle | None: ...

    async def get(self, regnum: str) -> Vehicle:
        """Raises UnknownVehicle."""

    async def of_customer(self, customer_id: str) -> list[Vehicle]: ...

    async def add(self, vehicle: Vehicle) -> None:
        """Raises RegnumTaken when another customer linked it first."""

    async def save(self, vehicle: Vehicle) -> None: ...

    async def remove(self, vehicle: Vehicle) -> None: ...


class IdTokenRepository(Protocol):
    async def find(self, token: str) -> IdToken | None: ...

    async def get(self, token: str) -> IdToken:
        """Raises UnknownIdToken."""

    async def of_customer(self, customer_id: str) -> list[IdToken]: ...

    async def add(self, id_token: IdToken) -> None:
        """Raises IdTokenTaken when a concurrent issue took it first."""

    async def save(self, id_token: IdToken) -> None: ...


class AccountsUnitOfWork(Transaction, Protocol):
    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def vehicles(self) -> VehicleRepository: ...

    @property
    def id_tokens(self) -> IdTokenRepository: ...

    def emit(self, event: Any) -> Mapping[str, Any]: ...


# --- the issuer's records -------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """What the password grant needs of a customer."""

    customer_id: str
    password_hash: str | None
    active: bool


class CustomerLogins(Protocol):
    async def by_email(self, email: str) -> Login | None: ...

    async def is_active(self, customer_id: str) -> bool:
        """False for a deactivated customer and for one that does not exist."""


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    secret_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


class ClientRecords(Protocol):
    async def find(self, client_id: str) -> ClientRecord | None: ...

    async def add(self, record: ClientRecord) -> None:
        """Raises Conflict when the client id exists."""

    async def reset(self, client_id: str, secret_hash: str, scopes: frozenset[str]) -> None:
        """A new secret and scopes, and not revoked (any more)."""

    async def all(self) -> list[ClientRecord]:
        """Oldest first."""

    async def revoke(self, client_id: str, at: datetime) -> bool:
        """False when there is no such client, or it is revoked already."""


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    private_pem: str
    encrypted: bool
    public_jwk: str  # JSON
    created_at: datetime
    retired_at: datetime | None = None
    expires_at: datetime | None = None  # leaves the JWKS


class KeyRecords(Protocol):
    async def signing(self) -> KeyRecord | None:
        """The newest key not retired."""

    async def add(self, record: KeyRecord) -> None: ...

    async def rotate(self, new: KeyRecord, expires_at: datetime) -> None:
        """Retire every signing key (at `new.created_at`, leaving the JWKS at `expires_at`)
        and add `new`, in one transaction."""

    async def published(self, now: datetime) -> list[str]:
        """The public JWKs (JSON) of the keys still in the JWKS at `now`, newest first."""

    async def all(self) -> list[KeyRecord]:
        """Oldest first."""


@dataclass(frozen=True)
class RefreshRecord:
    token_hash: str  # sha256 hex of the token; the token itself is not kept
    subject: str
    client_id: str | None
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


UNKNOWN_OR_EXPIRED = "the refresh token is unknown or expired"
ALREADY_USED = "the refresh token was already used"
ANOTHER_CLIENTS = "the refresh token belongs to another client"


def refresh_refusal(
    record: RefreshRecord | None, client_id: str | None, now: datetime
) -> str | None:
    """Why a refresh token may not be redeemed by `client_id` at `now`; None when it may."""
    if record is None or record.expires_at <= now:
        return UNKNOWN_OR_EXPIRED
    if record.used_at is not None:
        return ALREADY_USED
    if record.client_id and client_id != record.client_id:
        return ANOTHER_CLIENTS
    return None


@dataclass(frozen=True)
class Redeemed:
    """What redeeming a refresh token came to: its record when it was claimed; else why not."""

    record: RefreshRecord | None
    refusal: str | None


class RefreshTokens(Protocol):
    async def add(self, record: RefreshRecord) -> None: ...

    async def redeem(self, token_hash: str, client_id: str | None, now: datetime) -> Redeemed:
        """Use the token once, in one transaction: unknown or expired, of another client, or
        used already is refused; a token used already also revokes every refresh token of its
        subject (a stolen token is the likely cause), and that stands although it is refused."""


# (key, failures so far) at `now` -> locked until when (None: not locked)
LockPolicy = Callable[[str, int, datetime], datetime | None]


class FailureCounts(Protocol):
    async def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        """The latest lock of `keys` still running at `now`."""

    async def add_failure(self, keys: Sequence[str], now: datetime, lock: LockPolicy) -> None:
        """One more failure for each key, locked as `lock` says, in one transaction."""

    async def clear(self, keys: Sequence[str]) -> None: ...
