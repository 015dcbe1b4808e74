"""API clients: operator tools and services that get tokens with client_credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from accounts.identity.scopes import ALL_SCOPES, format_scopes
from accounts.ports import ClientRecord, ClientRecords
from chargepark.clock import Clock
from chargepark.errors import Invalid, NotFound
from chargepark.passwords import hash_password, verify_password


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str  # shown once; only its hash is kept


class ClientStore:
    def __init__(self, records: ClientRecords, clock: Clock) -> None:
        self.records = records
        self.clock = clock

    async def create(
        self,
        name: str,
        scopes: frozenset[str],
        *,
        client_id: str | None = None,
        secret: str | None = None,
    ) -> NewClient:
        unknown = scopes - ALL_SCOPES
        if unknown:
            raise Invalid(
                f"unknown scope {sorted(unknown)[0]!r}; known: " + format_scopes(ALL_SCOPES)
            )
        if not scopes:
            raise Invalid("a client needs at least one scope")
        client_id = client_id or f"cp_{secrets.token_hex(8)}"
        secret = secret or secrets.token_urlsafe(32)
        now = self.clock.now()
        secret_hash = await hash_password(secret)
        await self.records.add(ClientRecord(client_id, name, secret_hash, scopes, now, None))
        return NewClient(ApiClient(client_id, name, scopes, now, None), secret)

    async def ensure(self, client_id: str, secret: str, scopes: frozenset[str]) -> bool:
        """Make `client_id` exist with this secret and these scopes; True when it changed."""
        current = await self.find(client_id)
        if current is None:
            await self.create("bootstrap", scopes, client_id=client_id, secret=secret)
            return True
        if (
            current.active
            and current.scopes == scopes
            and await self.authenticate(client_id, secret)
        ):
            return False
        await self.records.reset(client_id, await hash_password(secret), scopes)
        return True

    async def find(self, client_id: str) -> ApiClient | None:
        record = await self.records.find(client_id)
        return _client(record) if record else None

    async def authenticate(self, client_id: str, secret: str) -> ApiClient | None:
        """The client when the secret is right and it is not revoked; else None."""
        record = await self.records.find(client_id)
        ok = await verify_password(record.secret_hash if record else None, secret)
        if not ok or record is None or record.revoked_at is not None:
            return None
        return _client(record)

    async def list(self) -> list[ApiClient]:
        return [_client(r) for r in await self.records.all()]

    async def count(self) -> int:
        return len(await self.list())

    async def revoke(self, client_id: str) -> None:
        if not await self.records.revoke(client_id, self.clock.now()):
            raise NotFound(f"no active client {client_id!r}")


def _client(record: ClientRecord) -> ApiClient:
    return ApiClient(
        record.client_id, record.name, record.scopes, record.created_at, record.revoked_at
    )
