"""Security profile 1/2 at the WebSocket handshake, answered from memory where it can be.

Under a boot storm every charger handshakes at once; a database query each (and an argon2
verification, tens of ms of CPU, for each charger with a password) kept handshakes waiting past
the chargers' open timeout. So:

- registrations (id -> password hash) are cached for `ttl_sec`, dropped at once when the REST
  registry of this process changes or removes the charger, and bounded in age so a change
  made through another csms node applies within the TTL;
- ids not in the cache are looked up together, one query per batch of handshakes;
- a password that verified once against a hash is remembered as a keyed digest of
  (charger, hash, password), so argon2 runs once per charger and password, not per connection.
  A new password means a new hash, which no remembered digest matches.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence
from enum import Enum

from chargepark.db.batcher import Batcher
from chargepark.passwords import verify_password
from csms.adapters.repository import CsmsUnitOfWork

_UNKNOWN = object()


class Admission(Enum):
    """What the handshake does with a connecting charger id."""

    ACCEPT = "accept"  # known (and authenticated when it has a password)
    UNAUTHORIZED = "unauthorized"  # HTTP 401
    UNKNOWN_REJECT = "reject"  # unknown id, policy reject: refused at the handshake
    UNKNOWN_ADMIT = "admit"  # unknown id, policy pending/accept: registered on the fly


class ChargerAdmission:
    def __init__(
        self,
        uow: Callable[[], CsmsUnitOfWork],
        unknown_policy: str,
        *,
        ttl_sec: float = 60.0,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uow = uow
        self.unknown_policy = unknown_policy
        self.ttl_sec = ttl_sec
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._registered: dict[str, tuple[str | None, float]] = {}  # id -> (hash, fetched at)
        self._verified: set[bytes] = set()
        self._changes = 0  # counts forget(): a lookup that ran across one is not cached
        self._key = os.urandom(32)  # the digests mean nothing outside this process
        self._lookups: Batcher[str, object] = Batcher(
            self._fetch, name="charger-lookups", max_batch=1000, max_pending=50_000
        )

    async def admit(self, charger_id: str, password: str | None) -> Admission:
        password_hash = await self._password_hash(charger_id)
        if password_hash is _UNKNOWN:
            if self.unknown_policy == "reject":
                return Admission.UNKNOWN_REJECT
            return Admission.UNKNOWN_ADMIT
        if password_hash is None:
            return Admission.ACCEPT
        assert isinstance(password_hash, str)
        if password is None:
            return Admission.UNAUTHORIZED
        digest = self._digest(charger_id, password_hash, password)
        if digest in self._verified:
            return Admission.ACCEPT
        if not await verify_password(password_hash, password):
            return Admission.UNAUTHORIZED
        if len(self._verified) >= self.max_entries:
            self._verified.clear()
        self._verified.add(digest)
        return Admission.ACCEPT

    def forget(self, charger_id: str) -> None:
        """The registration changed or is gone: the next handshake reads it again."""
        self._registered.pop(charger_id, None)
        self._changes += 1

    async def _password_hash(self, charger_id: str) -> object:
        cached = self._registered.get(charger_id)
        if cached is not None and self.monotonic() - cached[1] < self.ttl_sec:
            return cached[0]
        return await self._lookups.submit(charger_id)

    async def _fetch(self, ids: Sequence[str]) -> list[object]:
        changes = self._changes
        async with self.uow() as uow:
            found = await uow.chargers.credentials(ids)
        if changes == self._changes:  # else what was read may predate a change: answer, no cache
            now = self.monotonic()
            if len(self._registered) + len(found) > self.max_entries:
                self._registered.clear()
            for charger_id, password_hash in found.items():
                # Unknown ids are not cached: the pending/accept policy registers them at boot.
                self._registered[charger_id] = (password_hash, now)
        return [found.get(charger_id, _UNKNOWN) for charger_id in ids]

    def _digest(self, charger_id: str, password_hash: str, password: str) -> bytes:
        message = "\0".join((charger_id, password_hash, password)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    async def close(self) -> None:
        await self._lookups.close()
