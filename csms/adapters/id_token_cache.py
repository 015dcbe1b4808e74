"""The id token cache over SQL (`id_token_cache`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from chargepark.db.uow import UnitOfWork
from csms.adapters.tables import id_token_cache
from csms.domain.authorization import Authorization


class SqlIdTokenCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, id_token: str) -> tuple[Authorization, datetime] | None:
        t = id_token_cache
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id_token == id_token))).first()
        if row is None:
            return None
        expires = as_utc(row.expires_at) if row.expires_at else None
        return Authorization(row.status, row.customer_id, expires), as_utc(row.fetched_at)

    async def put(self, id_token: str, auth: Authorization, at: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await put_within(conn, self.db.dialect, id_token, auth, at)


class UnitIdTokenCache(SqlIdTokenCache):
    """The cache written in a unit of work's transaction (an event's, through the inbox)."""

    def __init__(self, unit: UnitOfWork) -> None:
        super().__init__(unit.db)
        self.unit = unit

    async def put(self, id_token: str, auth: Authorization, at: datetime) -> None:
        await put_within(self.unit.session, self.db.dialect, id_token, auth, at)


async def put_within(
    conn: AsyncConnection | AsyncSession,
    dialect_name: str,
    id_token: str,
    auth: Authorization,
    at: datetime,
) -> None:
    await conn.execute(cache_upsert(dialect_name, id_token, auth, at))


def cache_upsert(dialect_name: str, id_token: str, auth: Authorization, at: datetime) -> Any:
    """One statement that inserts or replaces a cache entry, on SQLite and PostgreSQL."""
    row = {
        "id_token": id_token,
        "status": auth.status,
        "customer_id": auth.customer_id,
        "expires_at": auth.expires_at,
        "fetched_at": at,
    }
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(id_token_cache)
        .values(row)
        .on_conflict_do_update(
            index_elements=[id_token_cache.c.id_token],
            set_={k: v for k, v in row.items() if k != "id_token"},
        )
    )
