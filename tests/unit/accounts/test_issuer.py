"""The issuer's use cases (API clients, signing keys, sign-in lock-out, token grants and
introspection) on the in-memory fakes of their records. Over HTTP and SQL: tests/integration/
identity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.domain import Customer
from accounts.identity.clients import ClientStore
from accounts.identity.keys import LEEWAY, KeyStore
from accounts.identity.throttle import Locked, Throttle
from accounts.identity.tokens import ClientCredentials, OAuthError, TokenService
from chargepark.errors import Conflict, Invalid, NotFound
from chargepark.passwords import hash_password
from tests.conftest import T0, FixedClock
from tests.support.fakes.accounts import (
    FakeClientRecords,
    FakeCustomerLogins,
    FakeFailureCounts,
    FakeKeyRecords,
    FakeRefreshTokens,
    State,
)

ISSUER = "chargepark"


class Issuer:
    def __init__(self, clock) -> None:
        self.customers = State()
        self.keys = KeyStore(FakeKeyRecords(), clock, token_ttl=900, cache_sec=0)
        self.clients = ClientStore(FakeClientRecords(), clock)
        self.failures = FakeFailureCounts()
        self.throttle = Throttle(self.failures, clock)
        self.tokens = TokenService(
            FakeCustomerLogins(self.customers),
            FakeRefreshTokens(),
            self.keys,
            self.clients,
            self.throttle,
            clock,
            issuer=ISSUER,
            access_ttl=900,
            refresh_ttl=3600,
        )

    async def customer(self, email: str, password: str) -> str:
        customer, _ = Customer.register("c-1", "Ada", email, T0)
        self.customers.customers[customer.id] = customer
        self.customers.passwords[customer.id] = await hash_password(password)
        return customer.id


@pytest.fixture
def issuer(clock) -> Issuer:
    return Issuer(clock)


async def test_a_client_authenticates_with_its_secret_until_revoked(issuer):
    new = await issuer.clients.create("ops", frozenset({"accounts:read"}))
    assert await issuer.clients.authenticate(new.client.client_id, new.secret) == new.client
    assert await issuer.clients.authenticate(new.client.client_id, "wrong") is None
    with pytest.raises(Conflict):
        await issuer.clients.create("ops", frozenset({"admin"}), client_id=new.client.client_id)
    with pytest.raises(Invalid, match="unknown scope"):
        await issuer.clients.create("ops", frozenset({"root"}))
    await issuer.clients.revoke(new.client.client_id)
    assert await issuer.clients.authenticate(new.client.client_id, new.secret) is None
    with pytest.raises(NotFound):
        await issuer.clients.revoke(new.client.client_id)


async def test_ensuring_a_client_changes_it_only_when_it_differs(issuer):
    scopes = frozenset({"accounts:read"})
    assert await issuer.clients.ensure("svc", "secret-1", scopes) is True
    assert await issuer.clients.ensure("svc", "secret-1", scopes) is False
    assert await issuer.clients.ensure("svc", "secret-2", scopes) is True
    assert await issuer.clients.authenticate("svc", "secret-2") is not None
    assert await issuer.clients.count() == 1


async def test_a_rotated_key_stays_in_the_jwks_until_its_tokens_expired(issuer, clock):
    first = await issuer.keys.signer()
    assert [k["kid"] for k in (await issuer.keys.jwks())["keys"]] == [first.kid]
    clock.advance(seconds=1)
    second = await issuer.keys.rotate()
    assert (await issuer.keys.signer()).kid == second.kid != first.kid
    assert [k["kid"] for k in (await issuer.keys.jwks())["keys"]] == [second.kid, first.kid]
    clock.advance(seconds=900 + LEEWAY.total_seconds())
    assert [k["kid"] for k in (await issuer.keys.jwks())["keys"]] == [second.kid]
    assert [(k.kid, k.retired_at is not None) for k in await issuer.keys.list()] == [
        (first.kid, True),
        (second.kid, False),
    ]


async def test_repeated_failures_lock_a_key_for_a_time_that_grows(issuer, clock):
    keys = ["user:ada@example.org", "ip:10.0.0.1"]
    for _ in range(5):
        await issuer.throttle.check(keys)
        await issuer.throttle.failed(keys)
    with pytest.raises(Locked) as locked:
        await issuer.throttle.check(keys)
    assert locked.value.retry_after == 1
    clock.advance(seconds=1)
    await issuer.throttle.check(keys)
    await issuer.throttle.failed(keys)
    with pytest.raises(Locked) as locked:
        await issuer.throttle.check(keys)
    assert locked.value.retry_after == 2
    await issuer.throttle.succeeded(keys)  # clears the user, not the address
    assert set(issuer.failures.counts) == {"ip:10.0.0.1"}


async def test_a_refresh_token_is_used_once_and_its_reuse_revokes_the_family(issuer, clock):
    await issuer.customer("ada@example.org", "correct horse")
    form = {"grant_type": "password", "username": "Ada@example.org", "password": "correct horse"}
    first = await issuer.tokens.token(form, None, "10.0.0.1")
    assert first["token_type"] == "Bearer" and first["expires_in"] == 900
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = await issuer.tokens.token(refresh, None, "10.0.0.1")
    with pytest.raises(OAuthError, match="already used"):
        await issuer.tokens.token(refresh, None, "10.0.0.1")
    later = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    with pytest.raises(OAuthError, match="already used"):  # revoked with the family
        await issuer.tokens.token(later, None, "10.0.0.1")
    clock.advance(hours=2)
    with pytest.raises(OAuthError, match="unknown or expired"):
        await issuer.tokens.token({**refresh, "refresh_token": "made-up"}, None, "10.0.0.1")


async def test_a_wrong_password_or_a_deactivated_customer_gets_no_token(issuer):
    customer_id = await issuer.customer("ada@example.org", "correct horse")
    form = {"grant_type": "password", "username": "ada@example.org", "password": "wrong horse"}
    with pytest.raises(OAuthError, match="wrong username or password"):
        await issuer.tokens.token(form, None, "10.0.0.1")
    good = await issuer.tokens.token({**form, "password": "correct horse"}, None, "10.0.0.1")
    issuer.customers.customers[customer_id].status = "deactivated"  # type: ignore[assignment]  # as a deactivation writes it
    refresh = {"grant_type": "refresh_token", "refresh_token": good["refresh_token"]}
    with pytest.raises(OAuthError, match="no longer active"):
        await issuer.tokens.token(refresh, None, "10.0.0.1")


async def test_introspection_answers_a_token_inactive_once_its_client_is_revoked():
    # Real time: token expiry is checked against the wall clock.
    issuer = Issuer(FixedClock(datetime.now(UTC).replace(microsecond=0)))
    caller = await issuer.clients.create("gateway", frozenset({"accounts:read"}))
    app = await issuer.clients.create("app", frozenset({"parking:read"}))
    body = await issuer.tokens.token(
        {"grant_type": "client_credentials"},
        ClientCredentials(app.client.client_id, app.secret),
        "10.0.0.1",
    )
    introspector = issuer.tokens.introspector
    who = await introspector.caller(caller.client.client_id, caller.secret, "10.0.0.1")
    assert who is not None and who.client_id == caller.client.client_id
    assert await introspector.caller(app.client.client_id, app.secret, "10.0.0.1") is None
    answer = await introspector.introspect(body["access_token"])
    assert (answer["active"], answer["sub"], answer["scope"]) == (
        True,
        app.client.client_id,
        "parking:read",
    )
    await issuer.clients.revoke(app.client.client_id)
    assert await introspector.introspect(body["access_token"]) == {"active": False}
    assert await introspector.introspect("not-a-token") == {"active": False}
