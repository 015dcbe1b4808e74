"""Accounts' use cases hash passwords and secrets with argon2id; here with the cheapest
parameters, so the use cases' tests stay fast. (The production parameters are what the SQL
and HTTP tests in tests/integration use.)"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from chargepark import passwords


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
