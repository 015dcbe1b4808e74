"""The OAuth2 token endpoint, JWKS and discovery over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from accounts.identity.scopes import ALL_SCOPES, CUSTOMER_SCOPES
from accounts.store import signing_keys
from chargepark.auth import InvalidToken, RemoteJwks, TokenVerifier
from chargepark.errors import ConfigError
from tests.conftest import FixedClock
from tests.support.issuer import ISSUER, a_customer, an_issuer

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def now_clock() -> FixedClock:
    # Real time: tokens are checked against the wall clock by the JOSE libraries.
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def issuer(any_db, now_clock):
    return await an_issuer(any_db, now_clock)


@pytest.fixture
async def client(aiohttp_client, issuer):
    return await aiohttp_client(issuer.app)


@pytest.fixture
async def ops_client(issuer):
    return await issuer.clients.create("ops tool", frozenset({"ops:read", "parking:read"}))


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def post_token(client, data: dict[str, str], headers: dict[str, str] | None = None):
    return await client.post("/auth/token", data=data, headers=headers or {})


async def jwks_of(client) -> dict:
    return await (await client.get("/.well-known/jwks.json")).json()


async def test_client_credentials_yield_a_token_an_independent_library_verifies(client, ops_client):
    r = await post_token(
        client,
        {"grant_type": "client_credentials"},
        basic(ops_client.client.client_id, ops_client.secret),
    )
    assert r.status == 200
    assert r.headers["Cache-Control"] == "no-store"
    body = await r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "ops:read parking:read"
    assert "refresh_token" not in body  # RFC 6749 4.4.3
    token = jose_jwt.decode(
        body["access_token"], KeySet.import_key_set(await jwks_of(client)), algorithms=["RS256"]
    )
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == ISSUER
    assert claims["sub"] == ops_client.client.client_id and claims["role"] == "client"
    assert claims["exp"] - claims["iat"] == 900


async def test_client_secret_post_works_too_and_scope_can_be_narrowed(client, ops_client):
    r = await post_token(
        client,
        {
            "grant_type": "client_credentials",
            "scope": "ops:read",
            "client_id": ops_client.client.client_id,
            "client_secret": ops_client.secret,
        },
    )
    assert r.status == 200
    assert (await r.json())["scope"] == "ops:read"


async def test_a_scope_the_client_lacks_is_invalid_scope(client, ops_client):
    r = await post_token(
        client,
        {"grant_type": "client_credentials", "scope": "admin"},
        basic(ops_client.client.client_id, ops_client.secret),
    )
    assert r.status == 400
    assert (await r.json())["error"] == "invalid_scope"


@pytest.mark.parametrize("secret", ["wrong", ""])
async def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(client, ops_client, secret):
    r = await post_token(
        client, {"grant_type": "client_credentials"}, basic(ops_client.client.client_id, secret)
    )
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert (await r.json())["error"] == "invalid_client"


async def test_an_unknown_or_revoked_client_is_invalid_client(client, issuer, ops_client):
    r = await post_token(client, {"grant_type": "client_credentials"}, basic("nobody", "x"))
    assert (await r.json())["error"] == "invalid_client"
    await issuer.clients.revoke(ops_client.client.client_id)
    r = await post_token(
        client,
        {"grant_type": "client_credentials"},
        basic(ops_client.client.client_id, ops_client.secret),
    )
    assert r.status == 401


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "a@b.c"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "forged"}, "invalid_grant"),
        ({"grant_type": "client_credentials"}, "invalid_client"),
    ],
)
async def test_each_malformed_request_gets_its_rfc6749_error(client, data, error):
    r = await post_token(client, data)
    assert r.status in (400, 401)
    assert (await r.json())["error"] == error


async def test_a_json_body_or_a_repeated_parameter_is_invalid_request(client):
    r = await client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert (r.status, (await r.json())["error"]) == (400, "invalid_request")
    r = await client.post(
        "/auth/token",
        data="grant_type=password&grant_type=password",
        headers={"Content-Type": FORM},
    )
    assert (r.status, (await r.json())["error"]) == (400, "invalid_request")


async def test_a_customer_logs_in_with_a_password_and_gets_own_data_scopes(
    client, any_db, now_clock
):
    customer_id = await a_customer(any_db, now_clock, "ann@example.com", "correct horse")
    r = await post_token(
        client,
        {"grant_type": "password", "username": "Ann@Example.com", "password": "correct horse"},
    )
    assert r.status == 200
    body = await r.json()
    claims = jose_jwt.decode(
        body["access_token"], KeySet.import_key_set(await jwks_of(client))
    ).claims
    assert claims["sub"] == customer_id and claims["role"] == "customer"
    assert set(body["scope"].split()) == CUSTOMER_SCOPES
    assert body["refresh_token"]


async def test_a_wrong_password_or_a_deactivated_customer_is_invalid_grant(
    client, any_db, now_clock
):
    await a_customer(any_db, now_clock, "bob@example.com", "right password")
    await a_customer(any_db, now_clock, "gone@example.com", "right password", status="deactivated")
    for user, password in [
        ("bob@example.com", "wrong password"),
        ("nobody@example.com", "right password"),
        ("gone@example.com", "right password"),
    ]:
        r = await post_token(
            client, {"grant_type": "password", "username": user, "password": password}
        )
        assert (r.status, (await r.json())["error"]) == (400, "invalid_grant")


async def test_a_refresh_token_is_used_once_and_its_reuse_revokes_the_family(
    client, any_db, now_clock
):
    await a_customer(any_db, now_clock, "cy@example.com", "pass phrase")
    first = await (
        await post_token(
            client,
            {"grant_type": "password", "username": "cy@example.com", "password": "pass phrase"},
        )
    ).json()
    r = await post_token(
        client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert r.status == 200
    second = await r.json()
    assert second["refresh_token"] != first["refresh_token"]
    reuse = await post_token(
        client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert (await reuse.json())["error"] == "invalid_grant"
    # The reuse looked like theft: the token that replaced it no longer works either.
    after = await post_token(
        client, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert (await after.json())["error"] == "invalid_grant"


async def test_repeated_failures_lock_the_client_then_time_unlocks_it(
    client, ops_client, now_clock
):
    good = basic(ops_client.client.client_id, ops_client.secret)
    bad = basic(ops_client.client.client_id, "guess")
    for _ in range(5):
        assert (await post_token(client, {"grant_type": "client_credentials"}, bad)).status == 401
    locked = await post_token(client, {"grant_type": "client_credentials"}, good)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) >= 1
    now_clock.advance(seconds=2)
    assert (await post_token(client, {"grant_type": "client_credentials"}, good)).status == 200


async def test_rotation_keeps_earlier_tokens_valid_until_they_expire(
    client, issuer, ops_client, now_clock
):
    creds = basic(ops_client.client.client_id, ops_client.secret)
    old = await (await post_token(client, {"grant_type": "client_credentials"}, creds)).json()
    await issuer.keys.rotate()
    new = await (await post_token(client, {"grant_type": "client_credentials"}, creds)).json()
    kids = [k["kid"] for k in (await jwks_of(client))["keys"]]
    assert len(kids) == 2

    verifier = TokenVerifier(
        RemoteJwks(str(client.make_url("/.well-known/jwks.json"))), issuer=ISSUER, audience=ISSUER
    )
    for token in (old["access_token"], new["access_token"]):
        assert (await verifier.verify(token)).subject == ops_client.client.client_id

    now_clock.advance(seconds=900 + 301)  # past the old tokens' lifetime and the leeway
    assert len((await jwks_of(client))["keys"]) == 1


async def test_keys_survive_a_restart(any_db, now_clock):
    first = await an_issuer(any_db, now_clock)
    kid = (await first.keys.signer()).kid
    again = await an_issuer(any_db, now_clock)
    assert (await again.keys.signer()).kid == kid


async def test_keys_are_encrypted_at_rest_when_a_secret_is_set(any_db, now_clock):
    issuer = await an_issuer(any_db, now_clock, key_secret="s3cret-for-keys")
    await issuer.keys.signer()
    async with any_db.engine.connect() as conn:
        pem = await conn.scalar(select(signing_keys.c.private_pem))
    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    without = await an_issuer(any_db, now_clock)
    with pytest.raises(ConfigError, match="CHARGEPARK_KEY_SECRET"):
        await without.keys.signer()


async def test_tokens_from_elsewhere_are_refused(client, issuer):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    verifier = TokenVerifier(
        RemoteJwks(str(client.make_url("/.well-known/jwks.json"))), issuer=ISSUER, audience=ISSUER
    )
    kid = (await issuer.keys.signer()).kid
    claims = {
        "sub": "x",
        "iss": ISSUER,
        "aud": ISSUER,
        "scope": "admin",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [
        jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        jwt.encode(
            claims | {"iss": "someone-else"},
            (await issuer.keys.signer()).private_key,
            algorithm="RS256",
            headers={"kid": kid},
        ),
    ]
    for token in forged:
        with pytest.raises(InvalidToken):
            await verifier.verify(token)


async def test_discovery_names_the_endpoints_and_scopes(client):
    doc = await (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"].endswith("/auth/token")
    assert doc["jwks_uri"].endswith("/.well-known/jwks.json")
    assert set(doc["scopes_supported"]) == ALL_SCOPES
    assert set(doc["grant_types_supported"]) == {"client_credentials", "password", "refresh_token"}
