"""Password and secret hashing (customers, API clients, chargers' Basic auth): argon2id,
with the parameters argon2-cffi keeps current.

Hashing is deliberately slow (tens of ms), so it runs in a thread: the event loop keeps serving
other requests and OCPP frames meanwhile.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Verifying against this when a user or client does not exist keeps the answer's timing the
# same as for a wrong password, so timing does not reveal which logins exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256  # argon2 hashes any length; a bound keeps hashing cost bounded


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(
        _verify, stored_hash or _DUMMY_HASH, password, stored_hash is not None
    )


def _verify(stored_hash: str, password: str, real: bool) -> bool:
    try:
        return _hasher.verify(stored_hash, password) and real
    except (VerificationError, InvalidHashError):
        return False
