"""Authorizing id tokens (RFID cards, app tokens) for chargers: C01 Authorize.

accounts owns id tokens. csms keeps a cache fed two ways: IdTokenChanged events (so a blocked
card is refused without waiting for a TTL) and lookups on a miss or a stale entry. When accounts
is unreachable, a stale entry still answers (a known card keeps working through an outage);
a token never seen follows CHARGEPARK_OCPP_OFFLINE_AUTH.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import Clock, as_utc
from chargepark.db.engine import Database
from chargepark.events.contracts import RestReads
from chargepark.http.client import ServiceUnavailable
from csms.adapters.tables import id_token_cache

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(minutes=5)


# What csms reads of accounts' answer to an id token lookup (tests/contract checks it against
# accounts' real answer).
ACCOUNTS_ID_TOKEN = RestReads(
    service="accounts",
    operation="GET /id-tokens/{id_token}",
    status=200,
    required=frozenset({"status"}),
    optional=frozenset({"customer_id", "expires_at"}),
)


@dataclass(frozen=True)
class Authorization:
    status: str  # Accepted | Blocked | Expired | Unknown
    customer_id: str | None = None
    expires_at: datetime | None = None


class IdTokenLookup(Protocol):
    async def get_json(self, path: str) -> tuple[int, Any]: ...


class Authorizer:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: IdTokenLookup | None,
        *,
        offline_policy: str = "reject",
    ) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.offline_policy = offline_policy

    async def authorize(self, id_token: str) -> Authorization:
        now = self.clock.now()
        cached = await self._cached(id_token)
        if cached is not None and now - cached[1] < FRESH_FOR:
            return _effective(cached[0], now)
        try:
            fresh = await self._lookup(id_token)
        except ServiceUnavailable as exc:
            if cached is not None:
                log.warning(
                    "accounts unreachable; answering from a stale cache entry",
                    extra={"error": str(exc)},
                )
                return _effective(cached[0], now)
            log.warning(
                "accounts unreachable; unknown token under the offline policy",
                extra={"error": str(exc), "policy": self.offline_policy},
            )
            return Authorization("Accepted" if self.offline_policy == "accept" else "Unknown")
        await self.remember(id_token, fresh, now)
        return _effective(fresh, now)

    async def remember(self, id_token: str, auth: Authorization, at: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(cache_upsert(self.db.dialect, id_token, auth, at))

    async def _cached(self, id_token: str) -> tuple[Authorization, datetime] | None:
        t = id_token_cache
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id_token == id_token))).first()
        if row is None:
            return None
        expires = as_utc(row.expires_at) if row.expires_at else None
        return Authorization(row.status, row.customer_id, expires), as_utc(row.fetched_at)

    async def _lookup(self, id_token: str) -> Authorization:
        if self.accounts is None:
            raise ServiceUnavailable("no accounts service configured")
        status, body = await self.accounts.get_json(f"/id-tokens/{quote(id_token, safe='')}")
        if status == 404:
            return Authorization("Unknown")
        if status != 200 or not isinstance(body, dict):
            raise ServiceUnavailable(f"id token lookup answered {status}")
        expires = body.get("expires_at")
        return Authorization(
            body["status"],
            body.get("customer_id"),
            as_utc(datetime.fromisoformat(expires.replace("Z", "+00:00"))) if expires else None,
        )


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


def _effective(auth: Authorization, now: datetime) -> Authorization:
    if auth.status == "Accepted" and auth.expires_at is not None and auth.expires_at <= now:
        return Authorization("Expired", auth.customer_id, auth.expires_at)
    return auth
