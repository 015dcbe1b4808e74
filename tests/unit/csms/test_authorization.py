"""Authorizing id tokens against an in-memory cache: the cache, lookups, and what happens while
accounts is down."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from csms.domain.authorization import Authorization
from csms.services.authorization import Authorizer
from tests.support.fakes.csms.authorization import FakeAccounts, InMemoryIdTokenCache


def accepted(customer: str = "c-1", expires_at: str | None = None) -> dict[str, Any]:
    return {"status": "Accepted", "customer_id": customer, "expires_at": expires_at}


async def test_a_fresh_entry_answers_without_a_lookup_and_a_stale_one_is_refreshed(clock):
    cache, accounts = InMemoryIdTokenCache(), FakeAccounts({"RFID-1": accepted()})
    authorizer = Authorizer(cache, clock, accounts)
    assert await authorizer.authorize("RFID-1") == Authorization("Accepted", "c-1")
    assert await authorizer.authorize("RFID-1") == Authorization("Accepted", "c-1")
    assert accounts.calls == 1 and cache.entries["RFID-1"][1] == clock.now()
    accounts.tokens["RFID-1"]["status"] = "Blocked"
    clock.advance(minutes=6)
    assert (await authorizer.authorize("RFID-1")).status == "Blocked"
    assert accounts.calls == 2


async def test_while_accounts_is_down_a_stale_entry_still_answers(clock):
    cache = InMemoryIdTokenCache()
    await cache.put("RFID-1", Authorization("Accepted", "c-1"), clock.now())
    accounts = FakeAccounts({})
    accounts.down = True
    clock.advance(hours=3)
    assert (await Authorizer(cache, clock, accounts).authorize("RFID-1")).status == "Accepted"


@pytest.mark.parametrize(("policy", "status"), [("reject", "Unknown"), ("accept", "Accepted")])
async def test_an_unseen_token_without_accounts_follows_the_offline_policy(clock, policy, status):
    authorizer = Authorizer(InMemoryIdTokenCache(), clock, None, offline_policy=policy)
    assert (await authorizer.authorize("NEVER-SEEN")).status == status


async def test_an_accepted_token_past_its_expiry_answers_expired(clock):
    soon = (clock.now() + timedelta(minutes=1)).isoformat()
    authorizer = Authorizer(
        InMemoryIdTokenCache(), clock, FakeAccounts({"RFID-2": accepted(expires_at=soon)})
    )
    assert (await authorizer.authorize("RFID-2")).status == "Accepted"
    clock.advance(minutes=2)
    assert (await authorizer.authorize("RFID-2")).status == "Expired"
    assert (await authorizer.authorize("NOPE")).status == "Unknown"
