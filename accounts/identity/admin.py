"""Operator commands on the issuer's data, run by `chargepark clients ...` and `keys ...`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from accounts.app import client_store, keys_on
from accounts.identity.keys import KeyStore
from accounts.identity.scopes import ALL_SCOPES, format_scopes, parse_scopes
from chargepark.clock import SystemClock
from chargepark.config import Settings
from chargepark.db import migrate
from chargepark.db.engine import Database
from chargepark.errors import Invalid

T = TypeVar("T")


async def _with_db(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(settings.database_url("accounts"))
    try:
        if settings.migrate_on_start:
            await migrate.upgrade("accounts", db)
        return await fn(db)
    finally:
        await db.dispose()


async def create_client(settings: Settings, name: str, scopes: str | None) -> list[str]:
    wanted = parse_scopes(scopes) if scopes else frozenset(ALL_SCOPES)
    if not name.strip():
        raise Invalid("--name must not be empty")

    async def go(db: Database) -> list[str]:
        new = await client_store(db, SystemClock()).create(name.strip(), wanted)
        return [
            f"client_id:     {new.client.client_id}",
            f"client_secret: {new.secret}",
            f"scopes:        {format_scopes(new.client.scopes)}",
            "The secret is shown only now; keep it.",
        ]

    return await _with_db(settings, go)


async def list_clients(settings: Settings) -> list[str]:
    async def go(db: Database) -> list[str]:
        rows = await client_store(db, SystemClock()).list()
        lines = [f"{'CLIENT_ID':<22} {'STATUS':<8} {'NAME':<20} SCOPES"]
        for c in rows:
            status = "active" if c.active else "revoked"
            lines.append(
                f"{c.client_id:<22} {status:<8} {c.name[:20]:<20} {format_scopes(c.scopes)}"
            )
        return lines

    return await _with_db(settings, go)


async def revoke_client(settings: Settings, client_id: str) -> list[str]:
    async def go(db: Database) -> list[str]:
        await client_store(db, SystemClock()).revoke(client_id)
        return [
            f"revoked {client_id}; tokens it already holds expire within "
            f"{settings.auth.access_token_ttl} s"
        ]

    return await _with_db(settings, go)


def _keys(db: Database, settings: Settings) -> KeyStore:
    return keys_on(
        db, SystemClock(), token_ttl=settings.auth.access_token_ttl, secret=settings.auth.key_secret
    )


async def rotate_key(settings: Settings) -> list[str]:
    async def go(db: Database) -> list[str]:
        info = await _keys(db, settings).rotate()
        return [f"new signing key {info.kid}; earlier keys verify until their tokens expire"]

    return await _with_db(settings, go)


async def list_keys(settings: Settings) -> list[str]:
    async def go(db: Database) -> list[str]:
        lines = [f"{'KID':<20} {'ALG':<6} {'CREATED':<26} {'RETIRED':<26} LEAVES JWKS"]
        for k in await _keys(db, settings).list():
            lines.append(
                f"{k.kid:<20} {k.alg:<6} {_ts(k.created_at):<26} "
                f"{_ts(k.retired_at):<26} {_ts(k.expires_at)}"
            )
        return lines

    return await _with_db(settings, go)


def _ts(value: object) -> str:
    return "-" if value is None else str(value)[:19]
