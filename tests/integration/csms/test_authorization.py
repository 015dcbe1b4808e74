"""Authorizing id tokens: the cache, lookups, and what happens while accounts is down."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chargepark.http.client import ServiceUnavailable
from csms.adapters.id_token_cache import SqlIdTokenCache
from csms.services.authorization import Authorization, Authorizer
from tests.support import templates


class FakeAccounts:
    """Answers /id-tokens/{token} from a dict; `down` makes it unreachable."""

    def __init__(self, tokens: dict[str, dict[str, Any]]) -> None:
        self.tokens = tokens
        self.down = False
        self.calls = 0

    async def get_json(self, path: str) -> tuple[int, Any]:
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("accounts is down (test)")
        token = path.rsplit("/", 1)[1]
        if token not in self.tokens:
            return 404, {"status": 404}
        return 200, {"id_token": token, **self.tokens[token]}


@pytest.fixture
async def db(sqlite_db):
    await templates.migrated("csms", sqlite_db)
    return SqlIdTokenCache(sqlite_db)


def accepted(customer: str = "c-1", expires_at: str | None = None) -> dict[str, Any]:
    return {"status": "Accepted", "customer_id": customer, "expires_at": expires_at}


async def test_a_known_token_is_looked_up_once_then_answered_from_the_cache(db, clock):
    accounts = FakeAccounts({"RFID-1": accepted()})
    authorizer = Authorizer(db, clock, accounts)
    assert await authorizer.authorize("RFID-1") == Authorization("Accepted", "c-1")
    assert await authorizer.authorize("RFID-1") == Authorization("Accepted", "c-1")
    assert accounts.calls == 1


async def test_a_stale_entry_is_refreshed(db, clock):
    accounts = FakeAccounts({"RFID-1": accepted()})
    authorizer = Authorizer(db, clock, accounts)
    await authorizer.authorize("RFID-1")
    accounts.tokens["RFID-1"]["status"] = "Blocked"
    clock.advance(minutes=6)
    assert (await authorizer.authorize("RFID-1")).status == "Blocked"
    assert accounts.calls == 2


async def test_while_accounts_is_down_a_stale_entry_still_answers(db, clock):
    accounts = FakeAccounts({"RFID-1": accepted()})
    authorizer = Authorizer(db, clock, accounts)
    await authorizer.authorize("RFID-1")
    accounts.down = True
    clock.advance(hours=3)
    assert (await authorizer.authorize("RFID-1")).status == "Accepted"


@pytest.mark.parametrize(("policy", "status"), [("reject", "Unknown"), ("accept", "Accepted")])
async def test_an_unseen_token_while_accounts_is_down_follows_the_offline_policy(
    db, clock, policy, status
):
    accounts = FakeAccounts({})
    accounts.down = True
    authorizer = Authorizer(db, clock, accounts, offline_policy=policy)
    assert (await authorizer.authorize("NEVER-SEEN")).status == status


async def test_an_unknown_token_is_unknown_and_an_expired_one_expired(db, clock):
    past = (clock.now() - timedelta(days=1)).isoformat()
    accounts = FakeAccounts({"OLD": accepted(expires_at=past)})
    authorizer = Authorizer(db, clock, accounts)
    assert (await authorizer.authorize("NOPE")).status == "Unknown"
    assert (await authorizer.authorize("OLD")).status == "Expired"


async def test_a_token_that_expires_while_cached_answers_expired(db, clock):
    soon = (clock.now() + timedelta(minutes=1)).isoformat()
    authorizer = Authorizer(db, clock, FakeAccounts({"RFID-2": accepted(expires_at=soon)}))
    assert (await authorizer.authorize("RFID-2")).status == "Accepted"
    clock.advance(minutes=2)
    assert (await authorizer.authorize("RFID-2")).status == "Expired"
