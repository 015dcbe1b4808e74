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

from accounts.ports import KeyRecord, KeyRecords
from chargepark.clock import Clock
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
        records: KeyRecords,
        clock: Clock,
        *,
        token_ttl: int,
        secret: str | None = None,
        cache_sec: float = 30.0,
    ) -> None:
        self.records = records
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
        key, record = await self._new_key(now)
        await self.records.rotate(record, expires_at=now + self.token_ttl + LEEWAY)
        self._signer, self._signer_loaded = key, time.monotonic()
        return KeyInfo(key.kid, ALG, now, None, None)

    async def jwks(self) -> dict[str, Any]:
        published = await self.records.published(self.clock.now())
        return {"keys": [json.loads(jwk) for jwk in published]}

    async def list(self) -> list[KeyInfo]:
        return [
            KeyInfo(r.kid, r.alg, r.created_at, r.retired_at, r.expires_at)
            for r in await self.records.all()
        ]

    async def _load_or_create(self) -> SigningKey:
        record = await self.records.signing()
        if record is None:
            key, record = await self._new_key(self.clock.now())
            await self.records.add(record)
            return key
        return SigningKey(
            record.kid, self._decrypt(record.private_pem, record.encrypted), record.created_at
        )

    async def _new_key(self, now: datetime) -> tuple[SigningKey, KeyRecord]:
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
        record = KeyRecord(
            kid=kid,
            alg=ALG,
            private_pem=pem,
            encrypted=self.secret is not None,
            public_jwk=json.dumps(jwk),
            created_at=now,
        )
        return SigningKey(kid, private, now), record

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
