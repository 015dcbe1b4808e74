"""Signing keys: RS256 key pairs kept in the accounts database, rotated by command.

The newest unretired key signs. Rotation makes a new key the signer and retires the old one,
which stays in the JWKS until every token it signed has expired (retired_at + token lifetime),
so a rotation never invalidates a token already issued. Private keys are encrypted at rest with
CHARGEPARK_KEY_SECRET when it is set.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import insert, or_, select, update

from accounts.store import signing_keys
from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.errors import ConfigError

ALG = "RS256"
# Tokens may be checked with this much clock skew; a retired key outlives its tokens by it.
LEEWAY = timedelta(minutes=5)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    alg: str
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None


class KeyStore:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        token_ttl: int,
        secret: str | None = None,
        cache_sec: float = 30.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.token_ttl = timedelta(seconds=token_ttl)
        self.secret = secret.encode() if secret else None
        self.cache_sec = cache_sec
        self._signer: SigningKey | None = None
        self._signer_loaded = -float("inf")
        self._lock = asyncio.Lock()

    async def signer(self) -> SigningKey:
        """The key that signs now; made on first use. Cached briefly, so a rotation by
        another process is picked up within `cache_sec`."""
        if self._signer is None or time.monotonic() - self._signer_loaded > self.cache_sec:
            async with self._lock:
                if self._signer is None or time.monotonic() - self._signer_loaded > self.cache_sec:
                    self._signer = await self._load_or_create()
                    self._signer_loaded = time.monotonic()
        return self._signer

    async def rotate(self) -> KeyInfo:
        now = self.clock.now()
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=now, expires_at=now + self.token_ttl + LEEWAY)
            )
            key = await self._create(conn, now)
        self._signer, self._signer_loaded = key, time.monotonic()
        return KeyInfo(key.kid, ALG, now, None, None)

    async def jwks(self) -> dict[str, Any]:
        now = self.clock.now()
        t = signing_keys
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t.c.public_jwk)
                .where(or_(t.c.expires_at.is_(None), t.c.expires_at > now))
                .order_by(t.c.created_at.desc())
            )
            return {"keys": [json.loads(r.public_jwk) for r in rows]}

    async def list(self) -> list[KeyInfo]:
        t = signing_keys
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t.c.kid, t.c.alg, t.c.created_at, t.c.retired_at, t.c.expires_at).order_by(
                    t.c.created_at
                )
            )
            return [KeyInfo(*r) for r in rows]

    async def _load_or_create(self) -> SigningKey:
        t = signing_keys
        async with self.db.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(t.c.kid, t.c.private_pem, t.c.encrypted, t.c.created_at)
                    .where(t.c.retired_at.is_(None))
                    .order_by(t.c.created_at.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                return await self._create(conn, self.clock.now())
        return SigningKey(
            row.kid, self._decrypt(row.private_pem, bool(row.encrypted)), row.created_at
        )

    async def _create(self, conn: Any, now: datetime) -> SigningKey:
        private = await asyncio.to_thread(rsa.generate_private_key, 65537, 2048)
        kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
        jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "alg": ALG, "use": "sig"})
        jwk.pop("key_ops", None)
        encryption = (
            serialization.BestAvailableEncryption(self.secret)
            if self.secret
            else serialization.NoEncryption()
        )
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ).decode()
        await conn.execute(
            insert(signing_keys),
            {
                "kid": kid,
                "alg": ALG,
                "private_pem": pem,
                "encrypted": int(self.secret is not None),
                "public_jwk": json.dumps(jwk),
                "created_at": now,
            },
        )
        return SigningKey(kid, private, now)

    def _decrypt(self, pem: str, encrypted: bool) -> rsa.RSAPrivateKey:
        if encrypted and self.secret is None:
            raise ConfigError("CHARGEPARK_KEY_SECRET: the signing keys are encrypted; set it")
        try:
            key = serialization.load_pem_private_key(
                pem.encode(), password=self.secret if encrypted else None
            )
        except (ValueError, TypeError):
            raise ConfigError("CHARGEPARK_KEY_SECRET: cannot decrypt the signing keys") from None
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
