"""Token introspection (RFC 7662) over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from accounts.store import customers
from tests.conftest import FixedClock
from tests.support.issuer import ISSUER, a_customer, an_issuer
from tests.support.tokens import TokenIssuer


@pytest.fixture
def now_clock() -> FixedClock:
    # Real time: token expiry is checked against the wall clock.
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def issuer(any_db, now_clock):
    return await an_issuer(any_db, now_clock)


@pytest.fixture
async def client(aiohttp_client, issuer):
    return await aiohttp_client(issuer.app)


@pytest.fixture
async def gateway(issuer):
    """The caller: an API client allowed to introspect (accounts:read)."""
    return await issuer.clients.create("gateway", frozenset({"accounts:read"}))


@pytest.fixture
async def operator(issuer):
    return await issuer.clients.create("operator", frozenset({"parking:write", "charging:read"}))


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def token_of(client, new_client, **form: str) -> str:
    r = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(new_client.client.client_id, new_client.secret),
    )
    assert r.status == 200, await r.text()
    return (await r.json())["access_token"]


async def introspect(client, caller, token: str, **form: str):
    return await client.post(
        "/auth/introspect",
        data={"token": token, **form},
        headers=basic(caller.client.client_id, caller.secret),
    )


async def test_an_active_client_token_answers_its_claims(client, gateway, operator):
    token = await token_of(client, operator)
    r = await introspect(client, gateway, token)
    assert r.status == 200
    assert r.headers["Cache-Control"] == "no-store"
    body = await r.json()
    assert body["active"] is True
    assert body["scope"] == "charging:read parking:write"
    assert body["client_id"] == body["sub"] == operator.client.client_id
    assert body["iss"] == ISSUER and body["token_type"] == "Bearer"
    assert body["exp"] > body["iat"]


async def test_anything_but_an_active_token_of_this_issuer_is_inactive(client, gateway, operator):
    good = await token_of(client, operator)
    head, payload, signature = good.split(".")
    forged = TokenIssuer(rsa_kid="x").issue("admin", iss=ISSUER, aud=ISSUER)
    expired = TokenIssuer().issue("admin", expires_in=-3600, iss=ISSUER, aud=ISSUER)
    for token in ("not-a-jwt", f"{head}.{payload}.{signature[::-1]}", forged, expired):
        r = await introspect(client, gateway, token)
        assert r.status == 200
        assert await r.json() == {"active": False}, token


async def test_a_token_of_a_revoked_client_is_inactive_at_once(client, issuer, gateway, operator):
    token = await token_of(client, operator)
    await issuer.clients.revoke(operator.client.client_id)
    r = await introspect(client, gateway, token)
    assert await r.json() == {"active": False}


async def test_a_customer_token_is_active_until_the_customer_is_deactivated(
    client, issuer, any_db, now_clock, gateway
):
    await a_customer(any_db, now_clock, "ann@example.com", "correct horse battery")
    r = await client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": "ann@example.com",
            "password": "correct horse battery",
        },
    )
    token = (await r.json())["access_token"]
    body = await (await introspect(client, gateway, token)).json()
    assert body["active"] is True and body["role"] == "customer"
    async with any_db.engine.begin() as conn:
        await conn.execute(update(customers).values(status="deactivated"))
    assert await (await introspect(client, gateway, token)).json() == {"active": False}


async def test_the_caller_must_authenticate_with_a_client_that_may_read_accounts(
    client, gateway, operator
):
    token = await token_of(client, operator)
    r = await client.post("/auth/introspect", data={"token": token})
    assert r.status == 401
    assert (await r.json())["error"] == "invalid_client"
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    r = await client.post(
        "/auth/introspect",
        data={"token": token},
        headers=basic(gateway.client.client_id, "wrong-secret"),
    )
    assert r.status == 401
    # A bearer token is no client authentication here.
    r = await client.post(
        "/auth/introspect", data={"token": token}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status == 401
    r = await introspect(client, operator, token)  # no accounts:read
    assert r.status == 403
    assert (await r.json())["error"] == "insufficient_scope"


async def test_client_secret_post_is_accepted_and_the_token_is_required(client, gateway, operator):
    token = await token_of(client, operator)
    form = {"client_id": gateway.client.client_id, "client_secret": gateway.secret}
    r = await client.post("/auth/introspect", data={"token": token, **form})
    assert (await r.json())["active"] is True
    r = await client.post("/auth/introspect", data=form)
    assert r.status == 400
    assert (await r.json())["error"] == "invalid_request"
    r = await client.post("/auth/introspect", json={"token": token, **form})
    assert r.status == 400


async def test_for_nginx_auth_request_the_answer_is_in_the_status(client, gateway, operator):
    token = await token_of(client, operator)
    r = await introspect(client, gateway, token, auth_request="1")
    assert r.status == 200
    assert (await r.json())["active"] is True
    r = await introspect(client, gateway, token + "x", auth_request="1")
    assert r.status == 401
    assert "WWW-Authenticate" not in r.headers  # the gateway writes its own
    assert await r.json() == {"active": False}
    # The gateway's own credential refused: 403, never a 401 that would read as "bad token".
    r = await client.post(
        "/auth/introspect",
        data={"token": token, "auth_request": "1"},
        headers=basic(gateway.client.client_id, "wrong-secret"),
    )
    assert r.status == 403


async def test_a_checked_caller_is_remembered_so_its_secret_is_not_rehashed(
    client, issuer, gateway, operator, monkeypatch
):
    token = await token_of(client, operator)
    assert (await (await introspect(client, gateway, token)).json())["active"] is True

    async def no_more(*args):
        raise AssertionError("the caller's secret was checked again")

    monkeypatch.setattr(issuer.tokens.introspector, "_authenticate", no_more)
    for _ in range(3):
        assert (await (await introspect(client, gateway, token)).json())["active"] is True


async def test_discovery_names_the_introspection_endpoint(client):
    doc = await (await client.get("/.well-known/openid-configuration")).json()
    assert doc["introspection_endpoint"].endswith("/auth/introspect")
