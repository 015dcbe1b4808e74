"""SQL records of the issuer: API clients, signing keys, refresh tokens, sign-in failures and
what the password grant reads of customers. Each method is one statement or one transaction on
its own connection (the issuer's writes are not part of a customer's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from accounts.identity.scopes import format_scopes, parse_scopes
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
from accounts.store import api_clients, auth_failures, customers, refresh_tokens, signing_keys
from chargepark.clock import as_utc
from chargepark.db.engine import Database
from chargepark.errors import Conflict


def _utc_or_none(ts: datetime | None) -> datetime | None:
    return None if ts is None else as_utc(ts)


class SqlCustomerLogins:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_email(self, email: str) -> Login | None:
        query = select(customers.c.id, customers.c.password_hash, customers.c.status).where(
            customers.c.email == email
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return Login(row.id, row.password_hash, row.status == "active")

    async def is_active(self, customer_id: str) -> bool:
        query = select(customers.c.status).where(customers.c.id == customer_id)
        async with self.db.engine.connect() as conn:
            return await conn.scalar(query) == "active"


class SqlClientRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, client_id: str) -> ClientRecord | None:
        query = select(api_clients).where(api_clients.c.client_id == client_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _client(row) if row else None

    async def add(self, record: ClientRecord) -> None:
        async with self.db.engine.begin() as conn:
            exists = await conn.scalar(
                select(api_clients.c.client_id).where(api_clients.c.client_id == record.client_id)
            )
            if exists:
                raise Conflict(f"client {record.client_id!r} exists")
            await conn.execute(
                insert(api_clients),
                {
                    "client_id": record.client_id,
                    "name": record.name,
                    "secret_hash": record.secret_hash,
                    "scopes": format_scopes(record.scopes),
                    "created_at": record.created_at,
                    "revoked_at": record.revoked_at,
                },
            )

    async def reset(self, client_id: str, secret_hash: str, scopes: frozenset[str]) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(api_clients)
                .where(api_clients.c.client_id == client_id)
                .values(secret_hash=secret_hash, scopes=format_scopes(scopes), revoked_at=None)
            )

    async def all(self) -> list[ClientRecord]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(api_clients).order_by(api_clients.c.created_at))
            return [_client(r) for r in rows]

    async def revoke(self, client_id: str, at: datetime) -> bool:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(api_clients)
                .where(api_clients.c.client_id == client_id, api_clients.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return bool(result.rowcount)


def _client(row: Any) -> ClientRecord:
    return ClientRecord(
        row.client_id,
        row.name,
        row.secret_hash,
        parse_scopes(row.scopes),
        as_utc(row.created_at),
        _utc_or_none(row.revoked_at),
    )


class SqlKeyRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def signing(self) -> KeyRecord | None:
        t = signing_keys
        query = select(t).where(t.c.retired_at.is_(None)).order_by(t.c.created_at.desc()).limit(1)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _key(row)

    async def add(self, record: KeyRecord) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(signing_keys), _key_row(record))

    async def rotate(self, new: KeyRecord, expires_at: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=new.created_at, expires_at=expires_at)
            )
            await conn.execute(insert(signing_keys), _key_row(new))

    async def published(self, now: datetime) -> list[str]:
        t = signing_keys
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t.c.public_jwk)
                .where(or_(t.c.expires_at.is_(None), t.c.expires_at > now))
                .order_by(t.c.created_at.desc())
            )
            return [r.public_jwk for r in rows]

    async def all(self) -> list[KeyRecord]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            return [_key(r) for r in rows]


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        kid=row.kid,
        alg=row.alg,
        private_pem=row.private_pem,
        encrypted=bool(row.encrypted),
        public_jwk=row.public_jwk,
        created_at=as_utc(row.created_at),
        retired_at=_utc_or_none(row.retired_at),
        expires_at=_utc_or_none(row.expires_at),
    )


def _key_row(record: KeyRecord) -> dict[str, Any]:
    return {
        "kid": record.kid,
        "alg": record.alg,
        "private_pem": record.private_pem,
        "encrypted": int(record.encrypted),
        "public_jwk": record.public_jwk,
        "created_at": record.created_at,
        "retired_at": record.retired_at,
        "expires_at": record.expires_at,
    }


class SqlRefreshTokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, record: RefreshRecord) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                insert(refresh_tokens),
                {
                    "token_hash": record.token_hash,
                    "subject": record.subject,
                    "client_id": record.client_id,
                    "scopes": format_scopes(record.scopes),
                    "created_at": record.created_at,
                    "expires_at": record.expires_at,
                    "used_at": record.used_at,
                },
            )

    async def redeem(self, token_hash: str, client_id: str | None, now: datetime) -> Redeemed:
        t = refresh_tokens
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(select(t).where(t.c.token_hash == token_hash))).first()
            record = None if row is None else _refresh(row)
            refusal = refresh_refusal(record, client_id, now)
            if record is not None and refusal == ALREADY_USED:
                # Committed before answering: the revocation must stand although we refuse.
                await conn.execute(
                    update(t)
                    .where(t.c.subject == record.subject, t.c.used_at.is_(None))
                    .values(used_at=now)
                )
            elif record is not None and refusal is None:
                claimed = await conn.execute(
                    update(t)
                    .where(t.c.token_hash == record.token_hash, t.c.used_at.is_(None))
                    .values(used_at=now)
                )
                if claimed.rowcount != 1:  # a concurrent refresh won
                    refusal = ALREADY_USED
        return Redeemed(record, refusal)


def _refresh(row: Any) -> RefreshRecord:
    return RefreshRecord(
        token_hash=row.token_hash,
        subject=row.subject,
        client_id=row.client_id,
        scopes=parse_scopes(row.scopes),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        used_at=_utc_or_none(row.used_at),
    )


class SqlFailureCounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        t = auth_failures
        async with self.db.engine.connect() as conn:
            until = await conn.scalar(
                select(t.c.locked_until)
                .where(t.c.key.in_(keys), t.c.locked_until > now)
                .order_by(t.c.locked_until.desc())
                .limit(1)
            )
        return _utc_or_none(until)

    async def add_failure(self, keys: Sequence[str], now: datetime, lock: LockPolicy) -> None:
        t = auth_failures
        async with self.db.engine.begin() as conn:
            for key in keys:
                count = await conn.scalar(select(t.c.failures).where(t.c.key == key))
                failures = (count or 0) + 1
                values = {
                    "failures": failures,
                    "updated_at": now,
                    "locked_until": lock(key, failures, now),
                }
                if count is None:
                    await conn.execute(insert(t), {"key": key, **values})
                else:
                    await conn.execute(update(t).where(t.c.key == key).values(**values))

    async def clear(self, keys: Sequence[str]) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(auth_failures).where(auth_failures.c.key.in_(keys)))
