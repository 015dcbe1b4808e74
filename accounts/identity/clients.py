"""API clients: operator tools and services that get tokens with client_credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from accounts.identity.scopes import ALL_SCOPES, format_scopes, parse_scopes
from accounts.store import api_clients
from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.errors import Conflict, Invalid, NotFound
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
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
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
        async with self.db.engine.begin() as conn:
            exists = await conn.scalar(
                select(api_clients.c.client_id).where(api_clients.c.client_id == client_id)
            )
            if exists:
                raise Conflict(f"client {client_id!r} exists")
            await conn.execute(
                insert(api_clients),
                {
                    "client_id": client_id,
                    "name": name,
                    "secret_hash": await hash_password(secret),
                    "scopes": format_scopes(scopes),
                    "created_at": now,
                },
            )
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
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(api_clients)
                .where(api_clients.c.client_id == client_id)
                .values(
                    secret_hash=await hash_password(secret),
                    scopes=format_scopes(scopes),
                    revoked_at=None,
                )
            )
        return True

    async def find(self, client_id: str) -> ApiClient | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(api_clients).where(api_clients.c.client_id == client_id))
            ).first()
        return _client(row) if row else None

    async def authenticate(self, client_id: str, secret: str) -> ApiClient | None:
        """The client when the secret is right and it is not revoked; else None."""
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(api_clients).where(api_clients.c.client_id == client_id))
            ).first()
        ok = await verify_password(row.secret_hash if row else None, secret)
        if not ok or row is None or row.revoked_at is not None:
            return None
        return _client(row)

    async def list(self) -> list[ApiClient]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(api_clients).order_by(api_clients.c.created_at))
            return [_client(r) for r in rows]

    async def count(self) -> int:
        return len(await self.list())

    async def revoke(self, client_id: str) -> None:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(api_clients)
                .where(api_clients.c.client_id == client_id, api_clients.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            )
        if result.rowcount == 0:
            raise NotFound(f"no active client {client_id!r}")


def _client(row) -> ApiClient:
    return ApiClient(
        row.client_id, row.name, parse_scopes(row.scopes), row.created_at, row.revoked_at
    )
