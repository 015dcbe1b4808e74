"""The contract of the issuer's records (accounts/ports.py): API clients, signing keys, refresh
tokens and sign-in failures, on the fakes and on SQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from accounts.ports import (
    ALREADY_USED,
    ANOTHER_CLIENTS,
    UNKNOWN_OR_EXPIRED,
    ClientRecord,
    KeyRecord,
    RefreshRecord,
)
from chargepark.errors import Conflict
from tests.conftest import T0

HOUR = timedelta(hours=1)


async def test_a_client_is_added_once_reset_and_revoked_once(store):
    ops = ClientRecord("cp_ops", "ops", "hash-1", frozenset({"admin"}), T0, None)
    svc = ClientRecord("svc", "bootstrap", "hash-2", frozenset({"accounts:read"}), T0 + HOUR, None)
    await store.clients.add(svc)
    await store.clients.add(ops)
    with pytest.raises(Conflict):
        await store.clients.add(ops)
    assert await store.clients.find("cp_ops") == ops
    assert await store.clients.find("nobody") is None
    assert [c.client_id for c in await store.clients.all()] == ["cp_ops", "svc"]
    assert await store.clients.revoke("cp_ops", T0 + HOUR)
    assert not await store.clients.revoke("cp_ops", T0 + 2 * HOUR)
    assert not await store.clients.revoke("nobody", T0)
    assert (await store.clients.find("cp_ops")).revoked_at == T0 + HOUR
    await store.clients.reset("cp_ops", "hash-3", frozenset({"accounts:read"}))
    assert await store.clients.find("cp_ops") == ClientRecord(
        "cp_ops", "ops", "hash-3", frozenset({"accounts:read"}), T0, None
    )


def a_key(kid: str, at: datetime) -> KeyRecord:
    return KeyRecord(
        kid=kid,
        alg="RS256",
        private_pem=f"pem of {kid}",
        encrypted=False,
        public_jwk=f'{{"kid": "{kid}"}}',
        created_at=at,
    )


async def test_a_rotation_retires_the_signing_key_which_stays_published_until_it_expires(store):
    assert await store.keys.signing() is None
    await store.keys.add(a_key("k1", T0))
    assert await store.keys.signing() == a_key("k1", T0)
    await store.keys.rotate(a_key("k2", T0 + HOUR), expires_at=T0 + 2 * HOUR)
    assert (await store.keys.signing()).kid == "k2"
    assert await store.keys.published(T0 + HOUR) == ['{"kid": "k2"}', '{"kid": "k1"}']
    assert await store.keys.published(T0 + 2 * HOUR) == ['{"kid": "k2"}']
    [k1, k2] = await store.keys.all()
    assert (k1.kid, k1.retired_at, k1.expires_at) == ("k1", T0 + HOUR, T0 + 2 * HOUR)
    assert (k2.kid, k2.retired_at, k2.expires_at) == ("k2", None, None)


def a_refresh(token_hash: str, subject: str = "c-1", client_id: str | None = None):
    return RefreshRecord(
        token_hash=token_hash,
        subject=subject,
        client_id=client_id,
        scopes=frozenset({"accounts:read", "parking:read"}),
        created_at=T0,
        expires_at=T0 + HOUR,
    )


async def test_a_refresh_token_is_redeemed_once_and_its_reuse_revokes_the_subjects_others(store):
    for record in [a_refresh("h1"), a_refresh("h2"), a_refresh("h3", "c-2")]:
        await store.refresh_tokens.add(record)
    redeemed = await store.refresh_tokens.redeem("h1", None, T0)
    assert (redeemed.record, redeemed.refusal) == (a_refresh("h1"), None)
    again = await store.refresh_tokens.redeem("h1", None, T0)
    assert again.refusal == ALREADY_USED
    assert (await store.refresh_tokens.redeem("h2", None, T0)).refusal == ALREADY_USED
    assert (await store.refresh_tokens.redeem("h3", None, T0)).refusal is None
    unknown = await store.refresh_tokens.redeem("nope", None, T0)
    assert (unknown.record, unknown.refusal) == (None, UNKNOWN_OR_EXPIRED)


async def test_a_refresh_token_expires_and_belongs_to_its_client(store):
    await store.refresh_tokens.add(a_refresh("h1", client_id="app"))
    await store.refresh_tokens.add(a_refresh("h2"))
    assert (await store.refresh_tokens.redeem("h2", None, T0 + HOUR)).refusal == (
        UNKNOWN_OR_EXPIRED
    )
    assert (await store.refresh_tokens.redeem("h1", None, T0)).refusal == ANOTHER_CLIENTS
    assert (await store.refresh_tokens.redeem("h1", "other", T0)).refusal == ANOTHER_CLIENTS
    assert (await store.refresh_tokens.redeem("h1", "app", T0)).refusal is None


async def test_failures_count_per_key_lock_as_the_policy_says_and_clear(store):
    def lock(key: str, failures: int, now: datetime) -> datetime | None:
        return now + timedelta(seconds=failures) if failures >= 2 else None

    keys = ["user:ada@example.org", "ip:10.0.0.1"]
    await store.failures.add_failure(keys, T0, lock)
    assert await store.failures.locked_until(keys, T0) is None
    await store.failures.add_failure(keys[1:], T0, lock)
    await store.failures.add_failure(keys, T0, lock)
    assert await store.failures.locked_until(keys[:1], T0) == T0 + timedelta(seconds=2)
    assert await store.failures.locked_until(keys, T0) == T0 + timedelta(seconds=3)
    assert await store.failures.locked_until(keys, T0 + timedelta(seconds=3)) is None
    await store.failures.clear(keys[1:])
    assert await store.failures.locked_until(keys, T0) == T0 + timedelta(seconds=2)
